"""At most REGISTER_MAX_PER_IP accounts per client per hour, shared through Redis.

A registration is counted before its password is hashed, in one atomic step
with the check, and refunded when it fails (a taken email, a bad password):
however many arrive at once, at most the limit's number go on. With Redis
down (or not configured), the same rule runs per process.
"""

from __future__ import annotations

import time
from typing import Protocol

from halo.redis.link import RedisLink, StoreUnavailable

WINDOW_SECONDS = 3600


class RegistrationLimit(Protocol):
    async def admit(self, client: str) -> int:
        """0: counted, go on; otherwise the seconds until this client may register again."""

    async def refund(self, client: str) -> None:
        """The registration failed: it does not count."""


def _key(client: str) -> str:
    return f"halo:register:{{{client}}}"


# KEYS: counter; ARGV: max, window -> seconds to wait (0: counted)
_ADMIT = """
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count >= tonumber(ARGV[1]) then return math.max(redis.call('TTL', KEYS[1]), 1) end
redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[2], 'NX')
return 0
"""

_REFUND = """
if tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then redis.call('DECR', KEYS[1]) end
return 1
"""


class MemoryRegistrationLimit:
    """Per process; no await between the check and the count."""

    def __init__(self, max_per_window: int, *, window_seconds: int = WINDOW_SECONDS) -> None:
        self._max = max_per_window
        self._window = window_seconds
        self._counts: dict[str, tuple[int, float]] = {}  # client -> (registrations, window ends at)

    async def admit(self, client: str) -> int:
        now = time.monotonic()
        count, ends = self._counts.get(client, (0, 0.0))
        if ends <= now:
            count, ends = 0, now + self._window
        if count >= self._max:
            return max(1, int(ends - now + 0.999))
        if len(self._counts) >= 100_000:
            self._counts = {k: v for k, v in self._counts.items() if v[1] > now}
        self._counts[client] = (count + 1, ends)
        return 0

    async def refund(self, client: str) -> None:
        count, ends = self._counts.get(client, (0, 0.0))
        if count > 0:
            self._counts[client] = (count - 1, ends)


class RedisRegistrationLimit:
    def __init__(
        self,
        link: RedisLink,
        max_per_window: int,
        fallback: RegistrationLimit,
        *,
        window_seconds: int = WINDOW_SECONDS,
    ) -> None:
        self._link = link
        self._max = max_per_window
        self._window = window_seconds
        self._fallback = fallback
        self._admit = link.client.register_script(_ADMIT)
        self._refund = link.client.register_script(_REFUND)

    async def admit(self, client: str) -> int:
        key = _key(client)

        async def op() -> int:
            return int(await self._admit(keys=[key], args=[self._max, self._window]))

        try:
            return await self._link.run(op, write=False)
        except StoreUnavailable:
            return await self._fallback.admit(client)

    async def refund(self, client: str) -> None:
        key = _key(client)

        async def op() -> None:
            await self._refund(keys=[key])

        try:
            await self._link.run(op, write=False)
        except StoreUnavailable:
            await self._fallback.refund(client)


def registration_limit_for(link: RedisLink | None, max_per_window: int) -> RegistrationLimit:
    memory = MemoryRegistrationLimit(max_per_window)
    return RedisRegistrationLimit(link, max_per_window, memory) if link is not None else memory
