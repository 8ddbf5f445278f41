"""Each signed-in caller's last write position (PostgreSQL WAL), shared by every instance.

Read-your-writes with read replicas (halo.db.replicas): a caller's reads use only replicas
that have replayed this position. One key per caller, `halo:{rw:<user>}`, holding the position
as an integer; a write never lowers it. While Redis fails, and for a short while after, the
router sends signed-in callers' reads to the primary (it cannot tell which writes it missed).
"""

from __future__ import annotations

from halo.db.replicas import PositionsUnavailable
from halo.redis.link import RedisLink, StoreUnavailable

# KEYS: the caller's key; ARGV: position, ttl -> 1
_PUT = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
elseif redis.call('TTL', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('EXPIRE', KEYS[1], ARGV[2])  -- the higher position covers this write: for as long
end
return 1
"""


def _key(user_id: int) -> str:
    return f"halo:{{rw:{user_id}}}"


class RedisWritePositions:
    def __init__(self, link: RedisLink) -> None:
        self._link = link
        self._put = link.client.register_script(_PUT)

    async def get(self, user_id: int) -> int | None:
        if not self._link.up:
            raise PositionsUnavailable("redis is down")
        key = _key(user_id)

        async def op() -> bytes | None:
            return await self._link.client.get(key)  # type: ignore[no-any-return]

        try:
            value = await self._link.run(op, write=False)
        except StoreUnavailable as exc:
            raise PositionsUnavailable(str(exc)) from exc
        return int(value) if value is not None else None

    async def put(self, user_id: int, lsn: int, ttl_seconds: int) -> None:
        key = _key(user_id)

        async def op() -> None:
            await self._put(keys=[key], args=[lsn, ttl_seconds])

        try:
            # Not a cache write (write=False): a lost position needs no new cache epoch; the
            # router sends signed-in reads to the primary until no lost write can matter.
            await self._link.run(op, write=False)
        except StoreUnavailable as exc:
            raise PositionsUnavailable(str(exc)) from exc
