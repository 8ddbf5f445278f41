"""What the cluster client needs beyond the contract suites: bounded connections, failures as outages."""

from __future__ import annotations

import asyncio

import pytest

from halo.config import Settings
from halo.engagement.redis_store import PENDING, RedisEngagementStore
from halo.redis.link import StoreUnavailable, link_for
from tests.support.services import free_port


async def test_a_burst_beyond_the_pool_waits_for_a_connection_instead_of_failing(
    redis_cluster_url: str,
) -> None:
    # The cluster client's node pools raise at once when full; the link queues calls instead.
    link = link_for(
        Settings(env="development", redis_url=redis_cluster_url, redis_cluster=True, redis_pool_max=4)
    )
    try:
        assert await link.probe()
        store = RedisEngagementStore(link)
        video = 8_000_000_000 + free_port()
        await asyncio.gather(
            *(store.add_view(video) for _ in range(200)),
            *(store.heartbeat(video, f"a:burst-viewer-{i}", 30) for i in range(50)),
            *(store.read([video, video + 1, video + 2]) for _ in range(50)),
        )
        assert link.up
        snapshot = (await store.read([video]))[video]
        assert snapshot.views.beyond(0) == 200 and snapshot.live_viewers == 50
        node_pools = [len(node._connections) for node in link.client.get_nodes()]
        assert max(node_pools) <= 4, node_pools
    finally:
        await link.client.aclose()


async def test_a_burst_still_fits_beside_the_workers_subscriptions_on_the_same_node(
    redis_cluster_url: str,
) -> None:
    # A worker's two subscribers (event bus, live signals) each hold a connection of some node's
    # pool for good; at worst both sit on the node that serves the view batches.
    link = link_for(
        Settings(env="development", redis_url=redis_cluster_url, redis_cluster=True, redis_pool_max=2)
    )
    subscribers = []
    try:
        assert await link.probe()
        store = RedisEngagementStore(link)
        views_node = link.client.get_node_from_key(PENDING)
        for channel in ("halo:test:events", "halo:test:live"):
            pubsub = link.client.pubsub(node=views_node)
            await pubsub.subscribe(channel)
            subscribers.append(pubsub)
        video = 8_000_000_000 + free_port()
        await asyncio.gather(*(store.add_view(video) for _ in range(100)))
        assert link.up
        assert (await store.read([video]))[video].views.beyond(0) == 100
    finally:
        for pubsub in subscribers:
            await pubsub.aclose()
        await link.client.aclose()


async def test_an_unreachable_cluster_is_an_outage_not_a_crash() -> None:
    link = link_for(
        Settings(
            env="development",
            redis_url=f"redis://127.0.0.1:{free_port()}/0",
            redis_cluster=True,
            redis_timeout_seconds=0.5,
        )
    )
    try:
        assert not await link.probe()
        link.up = True  # as if the probe had not run yet: the call itself must fail cleanly
        with pytest.raises(StoreUnavailable):
            await RedisEngagementStore(link).add_view(1)
        assert not link.up
    finally:
        await link.client.aclose()
