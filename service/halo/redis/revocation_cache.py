"""The revocation cache: logged-out token ids, so that most checks skip PostgreSQL.

The cache answers True (revoked), False (not revoked: the cache holds every
revocation of the current epoch) or None (it cannot tell: never loaded, an
older epoch, flushed, evicted, or a logout's write to it failed). On None the
caller asks PostgreSQL, which is the truth, and reloads the cache.

In Redis the whole cache is one hash: a field per revoked `jti` (its expiry)
and the `~loaded` field that says the hash is complete for an epoch. Entries
and marker live and die together, so an eviction or a flush can never leave
a "complete" marker beside missing entries. A logout whose write fails
deletes the marker (every replica then reads PostgreSQL at once); when even
that fails, the link's failed write starts a new epoch at its next probe.
A reload takes a ticket (`~ticket`) before it reads PostgreSQL and marks the
hash complete only if no invalidation came in between.

A replica cut off from Redis alone can do neither, so the hash also records the
revocation *version* it holds every entry up to (`~version`; PostgreSQL numbers
revocations in commit order, halo.repositories.revocations). Every worker, once a
second, asks PostgreSQL for the revocations above it and writes them in
(`catch_up`): a logout whose cache write was lost is refused everywhere within
about a second, by whichever replica still reaches Redis.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from functools import partial
from typing import Protocol

from halo.concurrency import ReadCoalescer
from halo.redis.link import REDIS_FAILURES, RedisLink, StoreUnavailable

log = logging.getLogger("halo.auth")

CACHE_KEY = "halo:revoked"
LOADED = "~loaded"  # the epoch the hash is complete for
TICKET = "~ticket"  # the reload in progress; an invalidation removes it
VERSION = "~version"  # every revocation up to this version has its entry here
INVALIDATE_TIMEOUT = 1.0
_CHUNK = 1000

Entries = Iterable[tuple[str, int]]
Reader = Callable[[], Awaitable[Entries]]
# (version) -> revocations above it, oldest first: (jti, expiry, version)
Since = Callable[[int], Awaitable[list[tuple[str, int, int]]]]

# KEYS: cache; ARGV: ticket, epoch, version read before the entries ('' if unknown) -> 1 when marked complete
_COMPLETE = """
if redis.call('HGET', KEYS[1], '~ticket') ~= ARGV[1] then return 0 end
redis.call('HDEL', KEYS[1], '~ticket')
redis.call('HSET', KEYS[1], '~loaded', ARGV[2])
if ARGV[3] ~= '' then
  local held = tonumber(redis.call('HGET', KEYS[1], '~version') or '-1')
  if tonumber(ARGV[3]) > held then redis.call('HSET', KEYS[1], '~version', ARGV[3]) end
end
return 1
"""

# KEYS: cache; ARGV: the version read, the version reached, then jti, expiry pairs -> the version held.
# The entries go in whatever happened; the version moves up only while the hash still holds every
# entry up to the one read (gone with the whole key on a flush or an eviction, then it stays gone).
_CATCH_UP = """
local held = redis.call('HGET', KEYS[1], '~version')
if not held then return -1 end
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
held = tonumber(held)
if held >= tonumber(ARGV[1]) and tonumber(ARGV[2]) > held then
  redis.call('HSET', KEYS[1], '~version', ARGV[2])
  return tonumber(ARGV[2])
end
return held
"""

# An invalidation: the marker and any reload's ticket go, in one step.
_INVALIDATE = """
redis.call('HDEL', KEYS[1], '~loaded', '~ticket')
return 1
"""


class RevocationCache(Protocol):
    async def check(self, jti: str) -> bool | None: ...

    async def add(self, jti: str, expires_at: int) -> None:
        """Record a revocation; raises StoreUnavailable when neither it nor an invalidation landed."""

    async def load(self, read: Reader, *, version: int | None = None) -> None:
        """Refill from `read()` (PostgreSQL's active revocations) and mark the cache complete;
        `version` is PostgreSQL's revocation version, read before `read()` runs."""

    async def catch_up(self, since: Since) -> int:
        """Write in the revocations PostgreSQL has above the cache's version; returns how many."""

    async def prune(self) -> None:
        """Forget revocations of tokens that have expired anyway."""


class RedisRevocationCache:
    def __init__(self, link: RedisLink) -> None:
        self._link = link
        self._complete = link.client.register_script(_COMPLETE)
        self._invalidate = link.client.register_script(_INVALIDATE)
        self._catch_up = link.client.register_script(_CATCH_UP)
        # Checks asked for in the same event-loop turn share one round trip (see `coalesce`).
        self._checks: ReadCoalescer[str, bool | None] = ReadCoalescer(self._check_many)

    async def check(self, jti: str) -> bool | None:
        return (await self._checks.read((jti,)))[jti]

    async def _check_many(self, jtis: list[str]) -> dict[str, bool | None]:
        epoch = self._link.epoch
        loaded, *expiries = await self._link.run(
            lambda: self._link.client.hmget(CACHE_KEY, [LOADED, *jtis]), write=False
        )
        complete = bool(epoch) and isinstance(loaded, bytes) and loaded.decode() == epoch
        now = time.time()
        # Revoked when its entry is there; not revoked when the cache holds this epoch's every revocation.
        return {
            jti: True if found is not None and int(found) > now else (False if complete else None)
            for jti, found in zip(jtis, expiries, strict=True)
        }

    async def add(self, jti: str, expires_at: int) -> None:
        try:
            await self._link.run(lambda: self._link.client.hset(CACHE_KEY, jti, expires_at), write=True)
        except StoreUnavailable as failure:
            # The cache may now lack this revocation: make every replica read PostgreSQL instead.
            # Straight to the client: the link fails fast now that it has seen a failure.
            try:
                async with asyncio.timeout(INVALIDATE_TIMEOUT):
                    await self._invalidate(keys=[CACHE_KEY])
            except REDIS_FAILURES:
                # The link's failed write starts a new epoch at its next good probe.
                log.warning("revocation cache neither updated nor invalidated (%s)", failure)
                raise failure from None
            log.warning(
                "revocation cache write failed (%s); invalidated, replicas read the database", failure
            )

    async def load(self, read: Reader, *, version: int | None = None) -> None:
        epoch = self._link.epoch
        if not epoch:
            return
        ticket = uuid.uuid4().hex
        await self._link.run(lambda: self._link.client.hset(CACHE_KEY, TICKET, ticket), write=True)
        now = int(time.time())
        live = [(jti, exp) for jti, exp in await read() if exp > now]

        async def op() -> None:
            for start in range(0, len(live), _CHUNK):
                mapping = {jti: exp for jti, exp in live[start : start + _CHUNK]}
                await self._link.client.hset(CACHE_KEY, mapping=mapping)
            await self._complete(keys=[CACHE_KEY], args=[ticket, epoch, "" if version is None else version])

        await self._link.run(op, write=True)

    async def catch_up(self, since: Since) -> int:
        held, loaded = await self._link.run(
            lambda: self._link.client.hmget(CACHE_KEY, [VERSION, LOADED]), write=False
        )
        if held is None:
            if loaded is not None:  # complete without a version (loaded before versions): reload it
                await self._link.run(lambda: self._invalidate(keys=[CACHE_KEY]), write=False)
            return 0  # not loaded (or flushed): readers use PostgreSQL and reload, with a version
        reached, written = int(held), 0
        while True:
            rows = await since(reached)
            if not rows:
                return written
            now = time.time()
            args: list[str | int] = [reached, rows[-1][2]]
            for jti, expires_at, _ in rows:
                if expires_at > now:
                    args += [jti, expires_at]
            written += (len(args) - 2) // 2
            result = await self._link.run(partial(self._catch_up, keys=[CACHE_KEY], args=args), write=False)
            if int(result) < rows[-1][2]:  # flushed, or reloaded meanwhile: the next round starts over
                return written
            reached = rows[-1][2]

    async def prune(self) -> None:
        now = time.time()

        async def op() -> None:
            expired: list[bytes] = []
            async for field, value in self._link.client.hscan_iter(CACHE_KEY, count=_CHUNK):
                if not field.startswith(b"~") and int(value) <= now:
                    expired.append(field)
            for start in range(0, len(expired), _CHUNK):
                await self._link.client.hdel(CACHE_KEY, *expired[start : start + _CHUNK])

        await self._link.run(op, write=False)


async def warn_if_evictable(link: RedisLink) -> str | None:
    """Log (and return) a warning when Redis's eviction policy may drop keys without a TTL.

    `noeviction` and the `volatile-*` policies never touch a key without a TTL (the revocation
    cache, the epoch, the engagement counters); an `allkeys-*` policy may. The revocation cache is
    one key, so an eviction cannot leave it half there, but every eviction costs a full reload."""
    try:
        async with asyncio.timeout(INVALIDATE_TIMEOUT):
            config = await link.client.config_get("maxmemory-policy")
    except Exception:  # managed Redis may refuse CONFIG: nothing to say then
        return None
    values = list(config.values()) if isinstance(config, dict) else []
    policy = values[0] if values else None
    if isinstance(policy, bytes):
        policy = policy.decode()
    if not isinstance(policy, str) or not policy.startswith("allkeys-"):
        return None
    message = (
        f"Redis maxmemory-policy is {policy}: it may evict keys without a TTL (the revocation cache, "
        "the cache epoch, engagement counters); use noeviction or a volatile-* policy"
    )
    log.warning(message)
    return message


class MemoryRevocationCache:
    """The embedded store's cache: a dict in this (only) process, empty after a restart."""

    def __init__(self, max_entries: int = 1_000_000) -> None:
        self._revoked: dict[str, int] = {}
        self._loaded = False
        self._max_entries = max_entries

    async def check(self, jti: str) -> bool | None:
        expires_at = self._revoked.get(jti)
        if expires_at is not None and expires_at > time.time():
            return True
        return False if self._loaded else None

    async def add(self, jti: str, expires_at: int) -> None:
        if len(self._revoked) >= self._max_entries:
            self._evict_expired()
            if len(self._revoked) >= self._max_entries:
                self._loaded = False  # cannot hold them all: fall back to the database
                return
        self._revoked[jti] = expires_at

    async def load(self, read: Reader, *, version: int | None = None) -> None:
        self._loaded = False  # an add while reading must not be lost by this load
        entries = await read()
        now = time.time()
        revoked = {jti: exp for jti, exp in entries if exp > now}
        revoked.update(self._revoked)
        self._revoked = revoked
        self._loaded = len(self._revoked) < self._max_entries

    async def catch_up(self, since: Since) -> int:
        return 0  # one process: its own logouts are in this dict, none is lost on the way

    async def prune(self) -> None:
        self._evict_expired()

    def _evict_expired(self) -> None:
        now = time.time()
        self._revoked = {jti: exp for jti, exp in self._revoked.items() if exp > now}
