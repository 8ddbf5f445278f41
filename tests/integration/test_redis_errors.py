"""Redis errors are counted: failed commands and failed probes, not the calls refused while it is down."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from halo.redis.link import RedisLink, StoreUnavailable
from tests.support.services import free_port


async def test_failed_commands_and_probes_reach_the_error_callbacks() -> None:
    # nothing listens on this port: every call fails at once
    client = Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=1, retry=Retry(NoBackoff(), 0))
    link = RedisLink(client, probe_timeout=2)
    errors: list[str] = []
    link.on_error(lambda: errors.append("error"))
    try:
        with pytest.raises(StoreUnavailable):
            await link.run(lambda: client.get("k"), write=False)
        assert errors == ["error"]
        with pytest.raises(StoreUnavailable):  # known down: refused without a call, not counted
            await link.run(lambda: client.get("k"), write=False)
        assert errors == ["error"]
        assert not await link.probe()
        assert not await link.probe()
        assert errors == ["error"] * 3
    finally:
        await client.aclose()


async def test_a_healthy_redis_counts_nothing(redis_url: str) -> None:
    client = Redis.from_url(redis_url)
    link = RedisLink(client)
    errors: list[str] = []
    link.on_error(lambda: errors.append("error"))
    try:
        assert await link.probe()
        assert await link.run(lambda: client.ping(), write=False)
        assert errors == []
    finally:
        await client.aclose()
