"""The Redis rate limiter: one token bucket per client across replicas, on Redis and on a Redis Cluster."""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import AsyncIterator

import pytest

from halo.redis.link import RedisLink
from halo.redis.rate_limit import RedisRateLimiter
from halo.security.shared_buckets import BucketTable
from halo.security.token_bucket import TokenBucketLimiter
from tests.integration.conftest import redis_link, unique

RATE = 0.01  # one token per 100 s: nothing refills while a test runs
BURST = 5


@pytest.fixture(params=["redis", "cluster"])
async def links(request: pytest.FixtureRequest) -> AsyncIterator[list[RedisLink]]:
    """Three links with clients of their own: three replicas sharing one Redis."""
    links = [await redis_link(request) for _ in range(3)]
    yield links
    for link in links:
        assert link.up  # every decision came from Redis, none from the local fallback
        await link.client.aclose()


def limiters(links: list[RedisLink]) -> list[RedisRateLimiter]:
    return [RedisRateLimiter(link, RATE, BURST, fallback=TokenBucketLimiter(RATE, BURST)) for link in links]


async def test_one_bucket_per_client_across_replicas(links: list[RedisLink]) -> None:
    replicas = limiters(links)
    client = unique("ip")
    decisions = [await replicas[i % 3].hit(client) for i in range(3 * BURST)]
    assert [d.allowed for d in decisions] == [True] * BURST + [False] * (2 * BURST)
    assert [d.remaining for d in decisions[:BURST]] == list(range(BURST - 1, -1, -1))
    assert all(d.retry_after >= 1 and d.limit == BURST for d in decisions[BURST:])
    assert (await replicas[0].hit(unique("ip"))).allowed  # another client has a bucket of its own


async def test_concurrent_hits_never_take_more_than_the_burst(links: list[RedisLink]) -> None:
    replicas = limiters(links)
    client = unique("ip")
    decisions = await asyncio.gather(*(replicas[i % 3].hit(client) for i in range(60)))
    assert sum(d.allowed for d in decisions) == BURST


async def test_while_redis_is_down_the_workers_of_an_instance_share_its_buckets(
    request: pytest.FixtureRequest,
) -> None:
    """The fallback of two workers' limiters, given the instance's table (`share`), as `halo serve`
    does with several workers: one burst for the client between them, not one each."""
    table = BucketTable.create(multiprocessing.get_context("spawn"), max_clients=100)
    links = [await redis_link(request, "redis") for _ in range(2)]
    workers = [
        RedisRateLimiter(link, RATE, BURST, fallback=TokenBucketLimiter(RATE, BURST)) for link in links
    ]
    try:
        for worker, link in zip(workers, links, strict=True):
            worker.share(table)
            link.failed(write=False, reason="stopped for the test")
            assert not link.up
        client = unique("ip")
        decisions = [await workers[i % 2].hit(client) for i in range(4 * BURST)]
        assert sum(d.allowed for d in decisions) == BURST
    finally:
        for link in links:
            await link.client.aclose()
