"""REGISTER_MAX_PER_IP: one contract for the Redis and the in-process limit, under concurrency."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from halo.redis.registration_limit import (
    MemoryRegistrationLimit,
    RedisRegistrationLimit,
    RegistrationLimit,
)
from tests.integration.conftest import redis_link, unique


@pytest.fixture(params=["memory", "redis", "cluster"])
async def limit(request: pytest.FixtureRequest) -> AsyncIterator[RegistrationLimit]:
    if request.param == "memory":
        yield MemoryRegistrationLimit(5)
        return
    link = await redis_link(request)
    yield RedisRegistrationLimit(link, 5, MemoryRegistrationLimit(5))
    assert link.up
    await link.client.aclose()


async def test_registrations_at_once_admit_no_more_than_the_limit(limit: RegistrationLimit) -> None:
    client = f"2001:db8:{unique('')[:4]}::/64"
    waits = await asyncio.gather(*(limit.admit(client) for _ in range(20)))
    assert waits.count(0) == 5
    assert all(1 <= wait <= 3600 for wait in waits if wait)
    assert await limit.admit(f"{client}-other") == 0  # another client has its own count


async def test_a_refunded_registration_does_not_count(limit: RegistrationLimit) -> None:
    client = unique("client")
    for _ in range(10):
        assert await limit.admit(client) == 0
        await limit.refund(client)
    assert [await limit.admit(client) for _ in range(5)] == [0] * 5
    assert await limit.admit(client) > 0
