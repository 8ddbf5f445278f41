"""Where `Idempotency-Key`s live: one record per caller and key, in Redis or (embedded) in process.

A record is first "in progress" (written with SET NX: of requests arriving at
once, exactly one claims the key), then the stored answer. Every operation
touches one key, so it works unchanged on a Redis Cluster. Taking over a
record (storing the answer, releasing the key) happens only when the record
is still the claim this request made, never a later one.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import orjson

from halo.redis.link import RedisLink

PREFIX = "halo:idempotency:"
MEMORY_MAX_KEYS = 100_000


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    """The first request's answer, replayed to its repeats."""

    status: int
    body: bytes
    content_type: str


@dataclass(frozen=True, slots=True)
class Claimed:
    """This request holds the key: `record` proves it when storing the answer or releasing."""

    record: bytes


@dataclass(frozen=True, slots=True)
class Taken:
    """Another request holds the key: in progress (`answer` None) or answered."""

    fingerprint: str
    answer: StoredAnswer | None


class IdempotencyStore(Protocol):
    async def claim(self, key: str, fingerprint: str, ttl_seconds: int) -> Claimed | Taken:
        """Claim `key` for a request whose body has `fingerprint`, unless a record exists."""

    async def complete(self, key: str, claim: Claimed, answer: StoredAnswer, ttl_seconds: int) -> None:
        """Replace this request's claim by its answer (nothing when the claim is gone)."""

    async def release(self, key: str, claim: Claimed) -> None:
        """Drop this request's claim (nothing when it is gone): a retry may go ahead."""


def pending_record(fingerprint: str) -> bytes:
    # The random token makes each claim unique: a late release never drops a newer claim.
    return orjson.dumps({"f": fingerprint, "t": secrets.token_hex(8)})


def answer_record(fingerprint: str, answer: StoredAnswer) -> bytes:
    return orjson.dumps(
        {"f": fingerprint, "s": answer.status, "c": answer.content_type, "b": answer.body.decode("utf-8")}
    )


def read_record(raw: bytes) -> Taken:
    record = orjson.loads(raw)
    if "s" not in record:
        return Taken(record["f"], None)
    return Taken(record["f"], StoredAnswer(record["s"], record["b"].encode("utf-8"), record["c"]))


# KEYS: record; ARGV: pending record, ttl -> nil when claimed, else the existing record
_CLAIM = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then return false end
return redis.call('GET', KEYS[1])
"""

# KEYS: record; ARGV: our pending record, answer record, ttl
_COMPLETE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  return 1
end
return 0
"""

# KEYS: record; ARGV: our pending record
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisIdempotencyStore:
    """Shared by every worker and replica. Raises StoreUnavailable while Redis is down."""

    def __init__(self, link: RedisLink) -> None:
        self._link = link
        self._claim = link.client.register_script(_CLAIM)
        self._complete = link.client.register_script(_COMPLETE)
        self._release = link.client.register_script(_RELEASE)

    async def claim(self, key: str, fingerprint: str, ttl_seconds: int) -> Claimed | Taken:
        record = pending_record(fingerprint)

        async def op() -> bytes | None:
            return await self._claim(keys=[PREFIX + key], args=[record, ttl_seconds])

        existing = await self._link.run(op, write=False)
        return Claimed(record) if existing is None else read_record(existing)

    async def complete(self, key: str, claim: Claimed, answer: StoredAnswer, ttl_seconds: int) -> None:
        stored = answer_record(read_record(claim.record).fingerprint, answer)

        async def op() -> None:
            await self._complete(keys=[PREFIX + key], args=[claim.record, stored, ttl_seconds])

        await self._link.run(op, write=False)

    async def release(self, key: str, claim: Claimed) -> None:
        async def op() -> None:
            await self._release(keys=[PREFIX + key], args=[claim.record])

        await self._link.run(op, write=False)


class MemoryIdempotencyStore:
    """One process's keys (the embedded default runs one worker), at most `max_keys` of them:
    when full, expired records go first, then the oldest."""

    def __init__(
        self, *, max_keys: int = MEMORY_MAX_KEYS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._records: OrderedDict[str, tuple[float, bytes]] = OrderedDict()  # key -> (expires at, record)
        self._max_keys = max_keys
        self._now = clock

    def _current(self, key: str) -> bytes | None:
        entry = self._records.get(key)
        if entry is None:
            return None
        if entry[0] <= self._now():
            del self._records[key]
            return None
        return entry[1]

    def _put(self, key: str, record: bytes, ttl_seconds: int) -> None:
        self._records.pop(key, None)
        if len(self._records) >= self._max_keys:
            now = self._now()
            for stale in [k for k, (expires, _) in self._records.items() if expires <= now]:
                del self._records[stale]
            while len(self._records) >= self._max_keys:
                self._records.popitem(last=False)
        self._records[key] = (self._now() + ttl_seconds, record)

    async def claim(self, key: str, fingerprint: str, ttl_seconds: int) -> Claimed | Taken:
        existing = self._current(key)
        if existing is not None:
            return read_record(existing)
        record = pending_record(fingerprint)
        self._put(key, record, ttl_seconds)
        return Claimed(record)

    async def complete(self, key: str, claim: Claimed, answer: StoredAnswer, ttl_seconds: int) -> None:
        if self._current(key) == claim.record:
            self._put(key, answer_record(read_record(claim.record).fingerprint, answer), ttl_seconds)

    async def release(self, key: str, claim: Claimed) -> None:
        if self._current(key) == claim.record:
            del self._records[key]


def idempotency_store_for(link: RedisLink | None) -> IdempotencyStore:
    return RedisIdempotencyStore(link) if link is not None else MemoryIdempotencyStore()
