"""The revocation cache: logged-out token ids, so that most checks skip PostgreSQL.

The cache answers True (revoked), False (not revoked: the cache holds every
revocation of the current epoch) or None (it cannot tell: never loaded, an
older epoch, or Redis flushed). On None the caller asks PostgreSQL, which is
the truth, and reloads the cache.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Protocol

from halo.concurrency import ReadCoalescer
from halo.redis.link import RedisLink

LOADED_KEY = "halo:revoked:loaded"
_CHUNK = 1000


def _key(jti: str) -> str:
    return f"halo:revoked:{jti}"


class RevocationCache(Protocol):
    async def check(self, jti: str) -> bool | None: ...
    async def add(self, jti: str, expires_at: int) -> None: ...
    async def load(self, entries: Iterable[tuple[str, int]]) -> None: ...


class RedisRevocationCache:
    def __init__(self, link: RedisLink) -> None:
        self._link = link
        # Checks asked for in the same event-loop turn share one pipeline (see `coalesce`).
        self._checks: ReadCoalescer[str, bool | None] = ReadCoalescer(self._check_many)

    async def check(self, jti: str) -> bool | None:
        return (await self._checks.read((jti,)))[jti]

    async def _check_many(self, jtis: list[str]) -> dict[str, bool | None]:
        epoch = self._link.epoch

        async def op() -> list[object]:
            async with self._link.client.pipeline(transaction=False) as pipe:
                for jti in jtis:
                    pipe.exists(_key(jti))
                pipe.get(LOADED_KEY)
                return await pipe.execute()

        *exists, loaded = await self._link.run(op, write=False)
        complete = bool(epoch) and isinstance(loaded, bytes) and loaded.decode() == epoch
        # Revoked when its key is there; not revoked when the cache holds this epoch's every revocation.
        return {
            jti: True if found else (False if complete else None)
            for jti, found in zip(jtis, exists, strict=True)
        }

    async def add(self, jti: str, expires_at: int) -> None:
        await self._link.run(lambda: self._link.client.set(_key(jti), b"1", exat=expires_at), write=True)

    async def load(self, entries: Iterable[tuple[str, int]]) -> None:
        epoch = self._link.epoch
        if not epoch:
            return
        now = int(time.time())
        live = [(jti, exp) for jti, exp in entries if exp > now]

        async def op() -> None:
            for start in range(0, len(live), _CHUNK):
                async with self._link.client.pipeline(transaction=False) as pipe:
                    for jti, exp in live[start : start + _CHUNK]:
                        pipe.set(_key(jti), b"1", exat=exp)
                    await pipe.execute()
            await self._link.client.set(LOADED_KEY, epoch)

        await self._link.run(op, write=True)


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

    async def load(self, entries: Iterable[tuple[str, int]]) -> None:
        now = time.time()
        self._revoked = {jti: exp for jti, exp in entries if exp > now}
        self._loaded = len(self._revoked) < self._max_entries

    def _evict_expired(self) -> None:
        now = time.time()
        self._revoked = {jti: exp for jti, exp in self._revoked.items() if exp > now}
