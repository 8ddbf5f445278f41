"""Write-behind views on real PostgreSQL (and SQLite): exactly once, with several flushers at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from halo.config import Settings
from halo.db import database
from halo.engagement.memory_store import MemoryEngagementStore
from halo.engagement.redis_store import RedisEngagementStore
from halo.repositories.engagement import EngagementRepository
from halo.repositories.videos import VideoRepository
from halo.services.view_flush import ViewFlusher
from tests.integration.conftest import new_user, redis_link, unique


async def _video(owner_name: str | None = None) -> int:
    user = await new_user(username=owner_name)
    return (await VideoRepository().create(user.id, {"title": unique("v")})).id


@pytest.fixture(params=["redis", "cluster"])
async def redis_stores(request: pytest.FixtureRequest) -> AsyncIterator[list[RedisEngagementStore]]:
    """Five stores with their own clients: five workers or replicas sharing one Redis (or cluster)."""
    links = [await redis_link(request) for _ in range(5)]
    yield [RedisEngagementStore(link) for link in links]
    for link in links:
        await link.client.aclose()


@pytest.mark.usefixtures("orm")
async def test_concurrent_flushers_never_lose_or_double_a_view(
    redis_stores: list[RedisEngagementStore],
) -> None:
    videos = [await _video() for _ in range(3)]
    flushers = [ViewFlusher(EngagementRepository(), store, interval_seconds=1) for store in redis_stores]

    async def viewer(i: int) -> None:
        await redis_stores[i % 5].add_view(videos[i % 3])

    async def flush_repeatedly(flusher: ViewFlusher) -> None:
        for _ in range(10):
            await flusher.flush_once()
            await asyncio.sleep(0)

    await asyncio.gather(*(viewer(i) for i in range(600)), *(flush_repeatedly(f) for f in flushers))
    while not (await flushers[0].flush_once()).locked:
        await asyncio.sleep(0.01)
    rows = [await VideoRepository().get(video) for video in videos]
    assert [row.view_count for row in rows if row] == [200, 200, 200]
    # and the durable count plus what is still in Redis is exact, not doubled
    snapshots = await redis_stores[0].read(videos)
    assert [row.view_count + snapshots[row.id].views.beyond(row.view_flush_seq) for row in rows if row] == [
        200
    ] * 3


@pytest.mark.usefixtures("orm")
async def test_a_batch_claimed_by_a_flusher_that_died_is_applied_by_the_next(
    redis_stores: list[RedisEngagementStore],
) -> None:
    video = await _video()
    store = redis_stores[0]
    for _ in range(7):
        await store.add_view(video)
    orphaned = await store.claim_views(0)  # claimed, then the flusher died before writing
    assert any(video in batch.views for batch in orphaned)
    for _ in range(3):
        await store.add_view(video)
    flusher = ViewFlusher(EngagementRepository(), store, interval_seconds=1)
    while not (await flusher.flush_once()).locked:
        await asyncio.sleep(0.01)
    row = await VideoRepository().get(video)
    assert row is not None and row.view_count == 10


@pytest.mark.usefixtures("orm")
async def test_applying_the_same_batch_twice_counts_it_once(redis_stores: list[RedisEngagementStore]) -> None:
    video = await _video()
    repository = EngagementRepository()
    # The run's end-to-end servers flush views into the same database now and then: wait for the lock.
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        async with repository.view_flush() as flush:
            if flush is not None:
                seq = flush.applied_seq + 1
                assert await flush.apply(seq, {video: 4}) == [(video, 4, seq)]
                assert await flush.apply(seq, {video: 4}) == []
                break
        assert asyncio.get_running_loop().time() < deadline, "another flusher held the lock for 10 s"
        await asyncio.sleep(0.01)
    row = await VideoRepository().get(video)
    assert row is not None and row.view_count == 4 and row.view_flush_seq == seq


async def test_flush_on_sqlite_with_the_in_process_store(tmp_path: Path) -> None:
    settings = Settings(env="development", database_url=f"sqlite://{tmp_path}/halo.db")
    await database.migrate(settings, report=lambda _: None)
    await database.open_orm(settings)
    try:
        video = await _video()
        store = MemoryEngagementStore()
        for _ in range(5):
            await store.add_view(video)
        flusher = ViewFlusher(EngagementRepository(), store, interval_seconds=1)
        result = await flusher.flush_once()
        assert result.locked and result.views == 5
        row = await VideoRepository().get(video)
        assert row is not None and row.view_count == 5
        assert (await flusher.flush_once()).views == 0
    finally:
        await database.close_orm()
