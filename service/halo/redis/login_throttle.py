"""Login throttling, per account and per client, shared through Redis.

An attempt is counted *before* its password is checked, in one atomic step
with the check of the limits, and refunded when the password was right: so
however many requests for one account arrive at once, at most the limit's
number of passwords are ever checked in a window. Three counters of attempts
inside a fixed window (LOGIN_FAILURE_WINDOW_SECONDS):

- account and client together: one guesser at one account, throttled soonest;
- client alone: one source guessing many accounts;
- account alone: many sources guessing one account. This one would let an
  attacker keep a victim out, so it does not apply to a client that has logged
  into the account successfully before (a remembered, known-good source).

A refused attempt gets 429 with `Retry-After` (when the window ends), whether
its password was right or wrong: it is never checked. Emails are hashed in
keys. With Redis down, the same rules run per process.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any, Protocol

from halo.redis.link import RedisLink, StoreUnavailable

KNOWN_GOOD_SECONDS = 30 * 86400


@dataclass(frozen=True, slots=True)
class ThrottleLimits:
    window_seconds: int = 900
    per_account_ip: int = 5
    per_account: int = 20
    per_ip: int = 100


class LoginThrottle(Protocol):
    async def attempt(self, email: str, client: str) -> int:
        """Count an attempt at this account from this client, if the limits allow it.

        0: counted, check the password; otherwise the seconds to wait (nothing counted)."""

    async def succeeded(self, email: str, client: str) -> None:
        """The password was right: refund the attempt and remember the client as known-good."""

    async def refund(self, email: str, client: str) -> None:
        """The attempt's password was never checked (hashing was saturated): it does not count."""


def _account(email: str) -> str:
    return hashlib.sha256(email.encode()).hexdigest()[:32]


def _keys(email: str, client: str) -> tuple[str, str, str, str]:
    account = _account(email)
    tag = f"{{login:{account}}}"  # one Redis Cluster slot for the account's keys
    return (
        f"halo:{tag}:pair:{client}",
        f"halo:{tag}:account",
        f"halo:{tag}:good",
        f"halo:login:ip:{{{client}}}",  # a slot of its own: the client's key is used alone
    )


# Check and count in one step: no request can slip between another's check and its count.
# KEYS: pair, account, good; ARGV: client, max pair, max account, window -> seconds to wait (0: counted)
_ATTEMPT_ACCOUNT = """
local wait = 0
local pair = tonumber(redis.call('GET', KEYS[1]) or '0')
if pair >= tonumber(ARGV[2]) then wait = math.max(wait, redis.call('TTL', KEYS[1]), 1) end
local account = tonumber(redis.call('GET', KEYS[2]) or '0')
if account >= tonumber(ARGV[3]) and redis.call('SISMEMBER', KEYS[3], ARGV[1]) == 0 then
  wait = math.max(wait, redis.call('TTL', KEYS[2]), 1)
end
if wait > 0 then return wait end
for i = 1, 2 do
  redis.call('INCR', KEYS[i])
  redis.call('EXPIRE', KEYS[i], ARGV[4], 'NX')
end
return 0
"""

# KEYS: by client; ARGV: max, window -> seconds to wait (0: counted)
_ATTEMPT_CLIENT = """
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count >= tonumber(ARGV[1]) then return math.max(redis.call('TTL', KEYS[1]), 1) end
redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[2], 'NX')
return 0
"""

# Take back one counted attempt (never below zero). KEYS: counters to decrement
_REFUND = """
for _, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') > 0 then redis.call('DECR', key) end
end
return 1
"""


class RedisLoginThrottle:
    def __init__(self, link: RedisLink, limits: ThrottleLimits, fallback: LoginThrottle) -> None:
        self._link = link
        self._limits = limits
        self._fallback = fallback  # used while Redis is down
        self._attempt_account = link.client.register_script(_ATTEMPT_ACCOUNT)
        self._attempt_client = link.client.register_script(_ATTEMPT_CLIENT)
        self._refund = link.client.register_script(_REFUND)

    async def attempt(self, email: str, client: str) -> int:
        pair, account, good, by_client = _keys(email, client)
        limits = self._limits
        window = limits.window_seconds

        async def op() -> int:
            wait = int(await self._attempt_client(keys=[by_client], args=[limits.per_ip, window]))
            if wait:
                return wait
            wait = int(
                await self._attempt_account(
                    keys=[pair, account, good],
                    args=[client, limits.per_account_ip, limits.per_account, window],
                )
            )
            if wait:  # refused for the account: the client's count goes back
                await self._refund(keys=[by_client])
            return wait

        try:
            return await self._link.run(op, write=False)
        except StoreUnavailable:
            return await self._fallback.attempt(email, client)

    async def succeeded(self, email: str, client: str) -> None:
        pair, account, good, by_client = _keys(email, client)

        async def op() -> None:
            await self._refund(keys=[account])
            await self._refund(keys=[by_client])
            async with self._link.client.pipeline(transaction=False) as pipe:
                pipe.delete(pair)
                pipe.sadd(good, client)
                pipe.expire(good, KNOWN_GOOD_SECONDS)
                await pipe.execute()

        try:
            await self._link.run(op, write=False)  # a lost refund is no reason to rebuild caches
        except StoreUnavailable:
            await self._fallback.succeeded(email, client)

    async def refund(self, email: str, client: str) -> None:
        pair, account, _, by_client = _keys(email, client)

        async def op() -> None:
            await self._refund(keys=[pair, account])
            await self._refund(keys=[by_client])

        try:
            await self._link.run(op, write=False)
        except StoreUnavailable:
            await self._fallback.refund(email, client)


class MemoryLoginThrottle:
    """The same rules in this process: the embedded default, and the fallback while Redis is down.

    No await between a check and its count: the event loop makes each attempt atomic."""

    def __init__(self, limits: ThrottleLimits, *, max_entries: int = 100_000) -> None:
        self._limits = limits
        self._max_entries = max_entries
        self._counters: dict[str, tuple[int, float]] = {}  # key -> (attempts, window ends at)
        self._good: dict[str, dict[str, float]] = {}  # account -> client -> remembered until

    def _count(self, key: str, now: float) -> tuple[int, float]:
        attempts, ends = self._counters.get(key, (0, 0.0))
        return (attempts, ends) if ends > now else (0, 0.0)

    async def attempt(self, email: str, client: str) -> int:
        now = time.monotonic()
        pair, account, _, by_client = _keys(email, client)
        limits = self._limits
        wait = 0.0
        for key, limit in ((pair, limits.per_account_ip), (by_client, limits.per_ip)):
            attempts, ends = self._count(key, now)
            if attempts >= limit:
                wait = max(wait, ends - now)
        attempts, ends = self._count(account, now)
        if attempts >= limits.per_account and self._good.get(_account(email), {}).get(client, 0.0) <= now:
            wait = max(wait, ends - now)
        if wait > 0:
            return max(1, int(wait + 0.999))
        if len(self._counters) >= self._max_entries:
            self._counters = {k: v for k, v in self._counters.items() if v[1] > now}
        for key in (pair, account, by_client):
            attempts, ends = self._count(key, now)
            self._counters[key] = (attempts + 1, ends if ends else now + limits.window_seconds)
        return 0

    async def succeeded(self, email: str, client: str) -> None:
        now = time.monotonic()
        pair, account, _, by_client = _keys(email, client)
        self._counters.pop(pair, None)
        for key in (account, by_client):
            attempts, ends = self._count(key, now)
            if attempts > 0:
                self._counters[key] = (attempts - 1, ends)
        if len(self._good) >= self._max_entries:
            self._good.clear()
        good = self._good.setdefault(_account(email), {})
        if len(good) < 100:
            good[client] = now + KNOWN_GOOD_SECONDS

    async def refund(self, email: str, client: str) -> None:
        now = time.monotonic()
        pair, account, _, by_client = _keys(email, client)
        for key in (pair, account, by_client):
            attempts, ends = self._count(key, now)
            if attempts > 0:
                self._counters[key] = (attempts - 1, ends)


def throttle_for(link: RedisLink | None, limits: ThrottleLimits) -> Any:
    memory = MemoryLoginThrottle(limits)
    return RedisLoginThrottle(link, limits, memory) if link is not None else memory
