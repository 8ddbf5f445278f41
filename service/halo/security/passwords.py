"""bcrypt password hashing, off the event loop.

bcrypt is deliberately slow (tens to hundreds of milliseconds); it runs in a
bounded thread pool so the loop keeps serving other requests. The pool's threads
run at a lower CPU priority (a higher niceness) than the event loop: bcrypt
releases the GIL, so on a busy machine it competes with the loop for a core, and
the kernel then lets a woken loop run at once instead of after a hash's time
slice. bcrypt reads at most 72 bytes: longer passwords are refused, never
silently truncated.

The pool's queue is bounded: with every thread busy and `queue_max` hashes
waiting, the next one is refused at once (`HasherBusy`, a 503 with
Retry-After) rather than queued behind seconds of work.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import bcrypt

MAX_PASSWORD_BYTES = 72
T = TypeVar("T")

log = logging.getLogger(__name__)


class PasswordTooLong(ValueError):
    pass


class HasherBusy(Exception):
    """Every bcrypt thread is busy and the queue is full: try again shortly."""


class PasswordHasher:
    def __init__(self, rounds: int, *, threads: int, niceness: int = 0, queue_max: int = 64) -> None:
        self._rounds = rounds
        self._capacity = threads + queue_max  # running plus waiting
        self._pending = 0
        self._executor = ThreadPoolExecutor(
            max_workers=threads,
            thread_name_prefix="bcrypt",
            initializer=lower_thread_priority,
            initargs=(niceness,),
        )
        self._dummy: bytes | None = None

    @property
    def dummy_hash(self) -> bytes:
        """A real hash of the configured cost: checking an unknown email against it
        costs the same time as checking a real account. Made on first use, in the pool."""
        if self._dummy is None:
            self._dummy = bcrypt.hashpw(b"halo-dummy-password", bcrypt.gensalt(self._rounds))
        return self._dummy

    @property
    def rounds(self) -> int:
        return self._rounds

    async def warm_up(self) -> None:
        """Make the dummy hash now, so the first unknown-email login is not slower than the rest."""
        await asyncio.get_running_loop().run_in_executor(self._executor, lambda: self.dummy_hash)

    def hash_sync(self, password: str) -> str:
        encoded = password.encode()
        if len(encoded) > MAX_PASSWORD_BYTES:
            raise PasswordTooLong(f"password is longer than {MAX_PASSWORD_BYTES} bytes")
        return bcrypt.hashpw(encoded, bcrypt.gensalt(self._rounds)).decode()

    async def hash(self, password: str) -> str:
        return await self._run(self.hash_sync, password)

    async def verify(self, password: str, password_hash: str | None) -> bool:
        """Constant-work check: with no hash (unknown account) or an over-long
        password, the dummy hash is checked instead and the answer is False."""
        encoded = password.encode()
        usable = password_hash is not None and len(encoded) <= MAX_PASSWORD_BYTES
        candidate = encoded if usable else encoded[:MAX_PASSWORD_BYTES]
        target = password_hash.encode() if usable and password_hash else None
        matched = await self._run(self._check, candidate, target)
        return matched and usable

    async def _run(self, work: Callable[..., T], *args: Any) -> T:
        if self._pending >= self._capacity:  # checked and counted with no await between
            raise HasherBusy("password hashing is saturated")
        self._pending += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, work, *args)
        finally:
            self._pending -= 1

    def _check(self, password: bytes, hashed: bytes | None) -> bool:
        return _check(password, hashed if hashed is not None else self.dummy_hash)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def lower_thread_priority(niceness: int) -> None:
    """Raise the calling thread's niceness by `niceness` (Linux keeps one per thread).
    Lowering a priority needs no privilege; where the platform cannot, hashing goes on as is."""
    if niceness <= 0:
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + niceness))
    except (AttributeError, OSError) as error:
        log.warning("bcrypt threads keep the loop's CPU priority: %s", error)


def _check(password: bytes, hashed: bytes) -> bool:
    try:
        return bcrypt.checkpw(password, hashed)
    except ValueError:  # a corrupt stored hash must not turn into a 500
        return False
