"""Change notices reach every other worker's bus, on one Redis and on a Redis Cluster."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest

from halo.redis.event_bus import RedisEventBus
from tests.integration.conftest import redis_link


@pytest.fixture(params=["redis", "cluster"])
def backend(request: pytest.FixtureRequest) -> pytest.FixtureRequest:
    return request


async def test_a_notice_published_by_one_bus_reaches_the_others(backend: pytest.FixtureRequest) -> None:
    links = [await redis_link(backend) for _ in range(2)]
    buses = [RedisEventBus(link, retry_seconds=0.1) for link in links]
    received: list[dict[str, Any]] = []
    resets: list[int] = []
    buses[1].on_message(received.append)
    buses[1].on_reset(lambda: resets.append(1))
    listener = asyncio.create_task(buses[1].listen())
    try:
        async with asyncio.timeout(5):
            while not resets:  # subscribed: a (re)subscription starts with a reset
                await asyncio.sleep(0.01)
            notice = {"kind": "changed", "ids": [7, 8]}
            while notice not in received:
                await buses[0].publish(notice)
                await asyncio.sleep(0.1)
    finally:
        listener.cancel()
        with contextlib.suppress(BaseException):
            await listener
        for link in links:
            await link.client.aclose()
