"""/health under a flood: results are kept for a second, so the database pool cannot be drained."""

from __future__ import annotations

import asyncio

import pytest

from halo.repositories.health import DatabaseProbe
from halo.services.health import CACHE_SECONDS, HealthService

pytestmark = pytest.mark.usefixtures("orm")


class CountingProbe(DatabaseProbe):
    def __init__(self) -> None:
        self.pings = 0

    async def ping(self, timeout: float) -> float:
        self.pings += 1
        return await super().ping(timeout)


async def test_fifty_concurrent_health_checks_make_one_database_probe() -> None:
    probe = CountingProbe()
    health = HealthService(probe, None)
    results = await asyncio.gather(*(health.check() for _ in range(50)))
    assert all(result.status == "ok" for result in results)
    assert probe.pings == 1  # one check, shared by every caller asking while it runs


async def test_a_result_is_kept_for_one_second_only() -> None:
    probe = CountingProbe()
    health = HealthService(probe, None)
    await health.check()
    for _ in range(50):  # one after another, none while a check runs: answered from the last result
        await health.check()
    assert probe.pings == 1
    await asyncio.sleep(CACHE_SECONDS + 0.1)
    await health.check()
    assert probe.pings == 2


async def test_a_caller_that_goes_away_does_not_cancel_the_shared_check() -> None:
    probe = CountingProbe()
    health = HealthService(probe, None)
    first = asyncio.create_task(health.check())
    second = asyncio.create_task(health.check())
    await asyncio.sleep(0)
    first.cancel()
    assert (await second).status == "ok"
