"""The per-worker video cache: bounded, expiring, kept right by change notices, one fetch per miss."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime

from halo.repositories.videos import VideoRow
from halo.services.video_cache import VideoCache


def row(video_id: int, *, title: str = "t", view_count: int = 0, flush_seq: int = 0) -> VideoRow:
    now = datetime.now(UTC)
    return VideoRow(
        video_id, 1, title, None, None, None, False, False, view_count, flush_seq, 0, 0, 0, now, now
    )


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_least_recently_used_goes_first() -> None:
    cache = VideoCache(size=2, ttl_seconds=60)
    cache.put(row(1))
    cache.put(row(2))
    assert cache.get(1) is not None  # 2 is now the oldest
    cache.put(row(3))
    assert cache.get(2) is None and cache.get(1) is not None and cache.get(3) is not None
    assert len(cache) == 2


def test_entries_expire() -> None:
    clock = Clock()
    cache = VideoCache(size=10, ttl_seconds=5, clock=clock)
    cache.put(row(1))
    clock.now += 4.9
    assert cache.get(1) is not None
    clock.now += 0.2
    assert cache.get(1) is None


def test_flushed_counts_replace_older_ones_only() -> None:
    cache = VideoCache(size=10, ttl_seconds=60)
    cache.put(row(1, view_count=10, flush_seq=3))
    cache.flushed([(1, 15, 4), (2, 99, 4)])
    cached = cache.get(1)
    assert cached is not None and (cached.view_count, cached.view_flush_seq) == (15, 4)
    cache.flushed([(1, 12, 2)])  # a late, older notice
    assert cache.get(1).view_count == 15  # type: ignore[union-attr]
    assert cache.get(2) is None  # not cached: nothing to update


async def test_concurrent_misses_share_one_fetch() -> None:
    cache = VideoCache(size=10, ttl_seconds=60)
    calls = 0

    async def fetch(video_id: int) -> VideoRow:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        return row(video_id)

    results = await asyncio.gather(*(cache.load(7, fetch) for _ in range(20)))
    assert calls == 1 and all(r is not None and r.id == 7 for r in results)
    assert await cache.load(7, fetch) is not None and calls == 1


async def test_a_drop_during_a_fetch_keeps_the_fetched_row_out() -> None:
    cache = VideoCache(size=10, ttl_seconds=60)
    started = asyncio.Event()
    release = asyncio.Event()

    async def fetch(video_id: int) -> VideoRow:
        started.set()
        await release.wait()
        return row(video_id, title="stale")

    loading = asyncio.create_task(cache.load(1, fetch))
    await started.wait()
    cache.drop([1])  # the video changed while its old version was being read
    release.set()
    assert (await loading).title == "stale"  # this caller gets what it read...
    assert cache.get(1) is None  # ...but nobody else will


async def test_a_caller_that_may_have_written_reads_for_itself() -> None:
    """join=False: a load already under way may have begun before this caller's write (or be
    read from a replica without it), so the caller fetches on its own."""
    cache = VideoCache(size=10, ttl_seconds=60)
    started = asyncio.Event()
    release = asyncio.Event()

    async def stale(video_id: int) -> VideoRow:
        started.set()
        await release.wait()
        return row(video_id, title="before the write")

    async def fresh(video_id: int) -> VideoRow:
        return row(video_id, title="after the write")

    loading = asyncio.create_task(cache.load(1, stale))
    await started.wait()
    assert (await cache.load(1, fresh, join=False)).title == "after the write"  # type: ignore[union-attr]
    release.set()
    assert (await loading).title == "before the write"


async def test_failed_fetch_is_not_cached_and_reaches_every_waiter() -> None:
    cache = VideoCache(size=10, ttl_seconds=60)

    async def fetch(video_id: int) -> VideoRow:
        await asyncio.sleep(0.01)
        raise ConnectionError("database down")

    results = await asyncio.gather(*(cache.load(3, fetch) for _ in range(3)), return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)
    assert cache.get(3) is None


def test_size_zero_disables_the_cache() -> None:
    cache = VideoCache(size=0, ttl_seconds=60)
    cache.put(row(1))
    assert cache.get(1) is None and not cache.enabled


def test_a_row_older_than_max_age_is_read_again_and_replaced() -> None:
    clock = Clock()
    cache = VideoCache(size=10, ttl_seconds=60, clock=clock)
    cache.put(row(1))
    clock.now += 4
    assert cache.get(1, max_age=5) is not None
    assert cache.age(1) == 4
    clock.now += 1
    assert cache.get(1, max_age=5) is None  # too old for this caller
    assert cache.get(1) is not None  # still there for one that accepts any age below the TTL
    assert cache.get(1, max_age=0) is None  # "read it again", whatever the clock


async def test_a_load_with_max_age_fetches_and_caches_the_new_row() -> None:
    clock = Clock()
    cache = VideoCache(size=10, ttl_seconds=60, clock=clock)
    cache.put(row(1))
    fetched = []

    async def fetch(video_id: int) -> VideoRow:
        fetched.append(video_id)
        return dataclasses.replace(row(video_id), title="new")

    assert (await cache.load(1, fetch, max_age=0)).title == "new"  # type: ignore[union-attr]
    assert (await cache.load(1, fetch)).title == "new"  # type: ignore[union-attr]
    assert fetched == [1]
