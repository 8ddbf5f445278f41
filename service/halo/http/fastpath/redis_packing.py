"""Redis commands packed by hiredis's C packer instead of redis-py's asyncio one.

redis-py's synchronous client packs with `hiredis.pack_command` when hiredis is installed; its
asyncio connection still packs argument by argument in Python (an encoder call, a length and a
join each), a few percent of the warm detail read, whose coalesced engagement read sends one
EVALSHA with several keys a video. This gives the asyncio connection the synchronous client's
packer: the same bytes (tests/unit/test_fastpath.py compares them). What hiredis does not take
(a memoryview, a bool, another type), and a connection whose encoding is not strict UTF-8 (what
hiredis encodes text with), go to redis-py's own method, so its errors are unchanged.
"""

from __future__ import annotations

from typing import Any

import hiredis
from redis.asyncio.connection import AbstractConnection

REDIS_PACK_COMMAND = AbstractConnection.pack_command
UTF8 = frozenset({"utf-8", "utf8", "UTF-8"})


def pack_command(self: AbstractConnection, *args: Any) -> list[bytes]:
    encoder = self.encoder
    if encoder.encoding not in UTF8 or encoder.encoding_errors != "strict":
        return REDIS_PACK_COMMAND(self, *args)
    command = args[0]
    if isinstance(command, str):  # a command name may hold literal arguments ("CONFIG GET")
        args = (*command.encode().split(), *args[1:])
    elif b" " in command:
        args = (*command.split(), *args[1:])
    try:
        return [hiredis.pack_command(args)]
    except TypeError:  # memoryview and other types: redis-py packs them or raises its own error
        return REDIS_PACK_COMMAND(self, *args)


def install() -> None:
    AbstractConnection.pack_command = pack_command  # type: ignore[method-assign]
