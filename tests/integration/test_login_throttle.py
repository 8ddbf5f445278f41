"""Failed-login throttling: one contract for the Redis and the in-process throttle."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from halo.redis.login_throttle import LoginThrottle, MemoryLoginThrottle, RedisLoginThrottle, ThrottleLimits
from tests.integration.conftest import redis_link, unique

LIMITS = ThrottleLimits(window_seconds=2, per_account_ip=3, per_account=5, per_ip=8)


@pytest.fixture(params=["memory", "redis", "cluster"])
async def throttle(request: pytest.FixtureRequest) -> AsyncIterator[LoginThrottle]:
    if request.param == "memory":
        yield MemoryLoginThrottle(LIMITS)
        return
    link = await redis_link(request)
    fallback = MemoryLoginThrottle(LIMITS)
    yield RedisLoginThrottle(link, LIMITS, fallback)
    assert link.up  # every answer came from Redis, none from the in-process fallback
    await link.client.aclose()


async def fail(throttle: LoginThrottle, email: str, ip: str, times: int) -> None:
    for _ in range(times):
        await throttle.failed(email, ip)


async def test_one_source_guessing_one_account_is_stopped(throttle: LoginThrottle) -> None:
    email = f"{unique()}@example.com"
    await fail(throttle, email, "198.51.100.1", 2)
    assert await throttle.retry_after(email, "198.51.100.1") == 0
    await fail(throttle, email, "198.51.100.1", 1)
    wait = await throttle.retry_after(email, "198.51.100.1")
    assert 1 <= wait <= LIMITS.window_seconds
    assert await throttle.retry_after(email, "198.51.100.2") == 0  # the owner elsewhere is not affected


async def test_the_lock_ends_with_the_window(throttle: LoginThrottle) -> None:
    email = f"{unique()}@example.com"
    await fail(throttle, email, "198.51.100.3", 3)
    assert await throttle.retry_after(email, "198.51.100.3") > 0
    await asyncio.sleep(LIMITS.window_seconds + 1.1)
    assert await throttle.retry_after(email, "198.51.100.3") == 0


async def test_many_sources_on_one_account_spare_a_known_good_source(throttle: LoginThrottle) -> None:
    email = f"{unique()}@example.com"
    await throttle.succeeded(email, "203.0.113.7")  # the owner logged in from here before
    for i in range(5):
        await throttle.failed(email, f"198.51.100.{10 + i}")
    assert await throttle.retry_after(email, "198.51.100.99") > 0  # any new source waits
    assert await throttle.retry_after(email, "203.0.113.7") == 0  # the owner's known source does not


async def test_one_source_guessing_many_accounts_is_stopped(throttle: LoginThrottle) -> None:
    ip = f"198.51.{hash(unique()) % 200}.{hash(unique()) % 200}"
    for _ in range(8):
        await throttle.failed(f"{unique()}@example.com", ip)
    assert await throttle.retry_after(f"{unique()}@example.com", ip) > 0


async def test_success_clears_the_pair_counter(throttle: LoginThrottle) -> None:
    email = f"{unique()}@example.com"
    await fail(throttle, email, "198.51.100.50", 2)
    await throttle.succeeded(email, "198.51.100.50")
    await fail(throttle, email, "198.51.100.50", 2)
    assert await throttle.retry_after(email, "198.51.100.50") == 0
