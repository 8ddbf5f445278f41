"""Failed-login throttling, per account and per IP, shared through Redis.

Three counters of failures inside a fixed window (LOGIN_FAILURE_WINDOW_SECONDS):

- account and IP together: one guesser at one account, throttled soonest;
- IP alone: one source guessing many accounts;
- account alone: many sources guessing one account. This one would let an
  attacker keep a victim out, so it does not apply to an IP that has logged
  into the account successfully before (a remembered, known-good source).

A locked-out caller gets 429 with `Retry-After` (when the window ends), and
its attempts are refused before any password is checked. Emails are hashed
in keys. With Redis down, the same rules run per process.
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
    async def retry_after(self, email: str, ip: str) -> int:
        """Seconds this caller must wait before trying this account again; 0 when it may try now."""

    async def failed(self, email: str, ip: str) -> None: ...

    async def succeeded(self, email: str, ip: str) -> None: ...


def _account(email: str) -> str:
    return hashlib.sha256(email.encode()).hexdigest()[:32]


def _keys(email: str, ip: str) -> tuple[str, str, str, str]:
    account = _account(email)
    tag = f"{{login:{account}}}"  # one Redis Cluster slot for the account's keys
    return (
        f"halo:{tag}:pair:{ip}",
        f"halo:{tag}:account",
        f"halo:{tag}:good",
        f"halo:login:ip:{ip}",
    )


# KEYS: pair, account, good; ARGV: ip, max pair, max account -> seconds to wait (0: go)
_CHECK_ACCOUNT = """
local wait = 0
local pair = tonumber(redis.call('GET', KEYS[1]) or '0')
if pair >= tonumber(ARGV[2]) then wait = math.max(wait, redis.call('TTL', KEYS[1])) end
local account = tonumber(redis.call('GET', KEYS[2]) or '0')
if account >= tonumber(ARGV[3]) and redis.call('SISMEMBER', KEYS[3], ARGV[1]) == 0 then
  wait = math.max(wait, redis.call('TTL', KEYS[2]))
end
return wait
"""

# KEYS: pair, account; ARGV: window
_FAIL_ACCOUNT = """
for _, key in ipairs(KEYS) do
  redis.call('INCR', key)
  redis.call('EXPIRE', key, ARGV[1], 'NX')
end
return 1
"""


class RedisLoginThrottle:
    def __init__(self, link: RedisLink, limits: ThrottleLimits, fallback: LoginThrottle) -> None:
        self._link = link
        self._limits = limits
        self._fallback = fallback  # used while Redis is down
        self._check = link.client.register_script(_CHECK_ACCOUNT)
        self._fail = link.client.register_script(_FAIL_ACCOUNT)

    async def retry_after(self, email: str, ip: str) -> int:
        pair, account, good, by_ip = _keys(email, ip)
        limits = self._limits

        async def op() -> int:
            wait = int(
                await self._check(
                    keys=[pair, account, good], args=[ip, limits.per_account_ip, limits.per_account]
                )
            )
            ip_failures = int(await self._link.client.get(by_ip) or 0)
            if ip_failures >= limits.per_ip:
                wait = max(wait, int(await self._link.client.ttl(by_ip)))
            return max(wait, 0)

        try:
            return await self._link.run(op, write=False)
        except StoreUnavailable:
            return await self._fallback.retry_after(email, ip)

    async def failed(self, email: str, ip: str) -> None:
        pair, account, _, by_ip = _keys(email, ip)
        window = self._limits.window_seconds

        async def op() -> None:
            await self._fail(keys=[pair, account], args=[window])
            async with self._link.client.pipeline(transaction=False) as pipe:
                pipe.incr(by_ip)
                pipe.expire(by_ip, window, nx=True)
                await pipe.execute()

        try:
            await self._link.run(op, write=False)  # a lost failure count is no reason to rebuild caches
        except StoreUnavailable:
            await self._fallback.failed(email, ip)

    async def succeeded(self, email: str, ip: str) -> None:
        pair, _, good, _ = _keys(email, ip)

        async def op() -> None:
            async with self._link.client.pipeline(transaction=False) as pipe:
                pipe.delete(pair)
                pipe.sadd(good, ip)
                pipe.expire(good, KNOWN_GOOD_SECONDS)
                await pipe.execute()

        try:
            await self._link.run(op, write=False)
        except StoreUnavailable:
            await self._fallback.succeeded(email, ip)


class MemoryLoginThrottle:
    """The same rules in this process: the embedded default, and the fallback while Redis is down."""

    def __init__(self, limits: ThrottleLimits, *, max_entries: int = 100_000) -> None:
        self._limits = limits
        self._max_entries = max_entries
        self._counters: dict[str, tuple[int, float]] = {}  # key -> (failures, window ends at)
        self._good: dict[str, dict[str, float]] = {}  # account -> ip -> remembered until

    def _count(self, key: str, now: float) -> tuple[int, float]:
        failures, ends = self._counters.get(key, (0, 0.0))
        return (failures, ends) if ends > now else (0, 0.0)

    async def retry_after(self, email: str, ip: str) -> int:
        now = time.monotonic()
        pair, account, _, by_ip = _keys(email, ip)
        limits = self._limits
        wait = 0.0
        for key, limit in ((pair, limits.per_account_ip), (by_ip, limits.per_ip)):
            failures, ends = self._count(key, now)
            if failures >= limit:
                wait = max(wait, ends - now)
        failures, ends = self._count(account, now)
        if failures >= limits.per_account and self._good.get(_account(email), {}).get(ip, 0.0) <= now:
            wait = max(wait, ends - now)
        return int(wait + 0.999)

    async def failed(self, email: str, ip: str) -> None:
        now = time.monotonic()
        if len(self._counters) >= self._max_entries:
            self._counters = {k: v for k, v in self._counters.items() if v[1] > now}
        pair, account, _, by_ip = _keys(email, ip)
        for key in (pair, account, by_ip):
            failures, ends = self._count(key, now)
            self._counters[key] = (failures + 1, ends if ends else now + self._limits.window_seconds)

    async def succeeded(self, email: str, ip: str) -> None:
        pair, *_ = _keys(email, ip)
        self._counters.pop(pair, None)
        if len(self._good) >= self._max_entries:
            self._good.clear()
        good = self._good.setdefault(_account(email), {})
        if len(good) < 100:
            good[ip] = time.monotonic() + KNOWN_GOOD_SECONDS


def throttle_for(link: RedisLink | None, limits: ThrottleLimits) -> Any:
    memory = MemoryLoginThrottle(limits)
    return RedisLoginThrottle(link, limits, memory) if link is not None else memory
