"""Login throttling: one contract for the Redis and the in-process throttle.

An attempt is counted before its password is checked; a right password refunds it."""

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


async def attempts(throttle: LoginThrottle, email: str, client: str, times: int) -> list[int]:
    return [await throttle.attempt(email, client) for _ in range(times)]


async def test_one_source_guessing_one_account_is_stopped(throttle: LoginThrottle) -> None:
    email = f"{unique()}@example.com"
    assert await attempts(throttle, email, "198.51.100.1", 3) == [0, 0, 0]
    wait = await throttle.attempt(email, "198.51.100.1")
    assert 1 <= wait <= LIMITS.window_seconds
    assert await throttle.attempt(email, "198.51.100.2") == 0  # the owner elsewhere is not affected


async def test_concurrent_attempts_admit_no_more_than_the_limit(throttle: LoginThrottle) -> None:
    email = f"{unique()}@example.com"
    waits = await asyncio.gather(*(throttle.attempt(email, "198.51.100.4") for _ in range(20)))
    assert waits.count(0) == LIMITS.per_account_ip
    assert all(wait >= 1 for wait in waits if wait)


async def test_the_lock_ends_with_the_window(throttle: LoginThrottle) -> None:
    email = f"{unique()}@example.com"
    await attempts(throttle, email, "198.51.100.3", 3)
    assert await throttle.attempt(email, "198.51.100.3") > 0
    await asyncio.sleep(LIMITS.window_seconds + 1.1)
    assert await throttle.attempt(email, "198.51.100.3") == 0


async def test_many_sources_on_one_account_spare_a_known_good_source(throttle: LoginThrottle) -> None:
    email = f"{unique()}@example.com"
    assert await throttle.attempt(email, "203.0.113.7") == 0
    await throttle.succeeded(email, "203.0.113.7")  # the owner logged in from here before
    for i in range(5):
        assert await throttle.attempt(email, f"198.51.100.{10 + i}") == 0
    assert await throttle.attempt(email, "198.51.100.99") > 0  # any new source waits
    assert await throttle.attempt(email, "203.0.113.7") == 0  # the owner's known source does not


async def test_one_source_guessing_many_accounts_is_stopped(throttle: LoginThrottle) -> None:
    client = f"198.51.{hash(unique()) % 200}.{hash(unique()) % 200}"
    for _ in range(8):
        assert await throttle.attempt(f"{unique()}@example.com", client) == 0
    assert await throttle.attempt(f"{unique()}@example.com", client) > 0


async def test_success_clears_the_pair_counter(throttle: LoginThrottle) -> None:
    email = f"{unique()}@example.com"
    await attempts(throttle, email, "198.51.100.50", 2)
    await throttle.succeeded(email, "198.51.100.50")
    assert await attempts(throttle, email, "198.51.100.50", 3) == [0, 0, 0]


async def test_a_refunded_attempt_does_not_count(throttle: LoginThrottle) -> None:
    email = f"{unique()}@example.com"
    for _ in range(5):
        assert await throttle.attempt(email, "198.51.100.60") == 0
        await throttle.refund(email, "198.51.100.60")
    assert await attempts(throttle, email, "198.51.100.60", 3) == [0, 0, 0]
    assert await throttle.attempt(email, "198.51.100.60") > 0


async def test_right_passwords_refund_the_account_and_client_counts(throttle: LoginThrottle) -> None:
    # Many users behind one address (a NAT) logging in, and one user from ever new addresses
    # (a phone): every success gives its attempt back, so neither is ever throttled.
    nat = f"198.51.{hash(unique()) % 200}.{hash(unique()) % 200}"
    for _ in range(LIMITS.per_ip * 2):
        email = f"{unique()}@example.com"
        assert await throttle.attempt(email, nat) == 0
        await throttle.succeeded(email, nat)
    email = f"{unique()}@example.com"
    for i in range(LIMITS.per_account * 2):
        source = f"192.0.2.{i + 1}"
        assert await throttle.attempt(email, source) == 0
        await throttle.succeeded(email, source)
    assert await throttle.attempt(email, "192.0.2.250") == 0  # a new source too
