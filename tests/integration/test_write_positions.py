"""Each caller's last write position in Redis (read-your-writes with read replicas), on one
server and on a cluster."""

from __future__ import annotations

import pytest

from halo.db.replicas import PositionsUnavailable
from halo.redis.write_positions import RedisWritePositions
from tests.integration.conftest import new_id, redis_link


@pytest.mark.parametrize("kind", ["redis", "cluster"])
async def test_a_position_is_shared_never_lowered_and_expires(
    request: pytest.FixtureRequest, kind: str
) -> None:
    link = await redis_link(request, kind)
    try:
        positions = RedisWritePositions(link)
        user = new_id()
        assert await positions.get(user) is None
        await positions.put(user, 2000, 60)
        await positions.put(user, 1000, 60)  # an older write, recorded late: the newer one stands
        assert await positions.get(user) == 2000
        assert await RedisWritePositions(link).get(user) == 2000  # any instance reads it
        await positions.put(user, 3000, 60)
        assert await positions.get(user) == 3000
        ttl = await link.client.ttl(f"halo:{{rw:{user}}}")
        assert 0 < ttl <= 60
    finally:
        await link.client.aclose()


async def test_an_unreachable_redis_is_reported_not_taken_for_no_write(
    request: pytest.FixtureRequest,
) -> None:
    link = await redis_link(request, "redis")
    positions = RedisWritePositions(link)
    await link.client.aclose()
    link.failed(write=False, reason="test")  # the link's probe found it down
    with pytest.raises(PositionsUnavailable):
        await positions.get(new_id())
    with pytest.raises(PositionsUnavailable):
        await positions.put(new_id(), 1, 60)
