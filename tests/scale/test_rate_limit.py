"""One rate limit per client across every instance (RATE_LIMIT_BACKEND=redis), seen through nginx."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.conftest import assert_envelope
from tests.scale.conftest import fleet_env, start_fleet
from tests.support.fleet import Fleet

pytestmark = pytest.mark.scale

BURST = 12
# One token per 100 s: nothing refills while a test runs, so the counts below are exact.
RPS = "0.01"


@pytest.fixture(scope="module")
def strict_fleet(database_url: str, redis_url: str) -> Iterator[Fleet]:
    """A fleet of its own: a burst this small would starve the other tests' traffic."""
    running = start_fleet(fleet_env(database_url, redis_url, RATE_LIMIT_BURST=str(BURST), RATE_LIMIT_RPS=RPS))
    yield running
    running.stop()


def outcomes(fleet: Fleet, responses: list[httpx.Response]) -> tuple[int, set[int | None], set[int | None]]:
    allowed = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code == 429]
    assert len(allowed) + len(refused) == len(responses), {r.status_code for r in responses}
    return len(allowed), {fleet.served_by(r) for r in allowed}, {fleet.served_by(r) for r in refused}


async def test_one_client_gets_one_burst_however_its_requests_are_spread(strict_fleet: Fleet) -> None:
    async with strict_fleet.client() as client:
        responses = [await client.get("/api/v1/videos", params={"limit": 1}) for _ in range(3 * BURST)]
        allowed, allowed_by, refused_by = outcomes(strict_fleet, responses)
        # three per-instance buckets would have let all 36 through
        assert allowed == BURST
        assert (
            allowed_by == refused_by == {0, 1, 2}
        )  # every instance took from and then refused the one bucket
        assert [int(r.headers["ratelimit-remaining"]) for r in responses[:BURST]] == list(
            range(BURST - 1, -1, -1)
        )

        limited = responses[-1]
        assert_envelope(limited, 429, "rate_limited")
        assert int(limited.headers["retry-after"]) >= 1
        assert limited.headers["ratelimit-limit"] == str(BURST)

        # nginx replaces a client's own X-Forwarded-For: no new bucket by claiming another address
        spoofed = await client.get("/api/v1/videos", headers={"X-Forwarded-For": "203.0.113.9"})
        assert spoofed.status_code == 429

    async with strict_fleet.client() as neighbour:  # another address: a bucket of its own
        assert (await neighbour.get("/api/v1/videos", params={"limit": 1})).status_code == 200


async def test_concurrent_requests_on_every_instance_never_exceed_the_burst(strict_fleet: Fleet) -> None:
    async with strict_fleet.client(connections=30) as client:
        responses = await asyncio.gather(
            *(client.get("/api/v1/videos", params={"limit": 1}) for _ in range(90))
        )
    allowed, _, refused_by = outcomes(strict_fleet, list(responses))
    assert allowed == BURST
    assert refused_by == {0, 1, 2}
