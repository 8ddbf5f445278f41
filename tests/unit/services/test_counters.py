"""Merging a video's durable counters (the row) with the real-time ones (the store)."""

from __future__ import annotations

from typing import Any

from halo.engagement.memory_store import MemoryEngagementStore
from halo.engagement.store import Counters
from halo.redis.link import StoreUnavailable
from tests.unit.services.fakes import principal, wired

USER = principal(1)


async def test_like_twice_counts_once_and_unlike_takes_it_back() -> None:
    app = wired()
    video = app.video_rows.add(9)
    assert await app.engagement.like(USER, video.id) == 1
    assert await app.engagement.like(USER, video.id) == 1
    assert (await app.videos.get(None, video.id)).engagement.like_count == 1  # type: ignore[union-attr]
    assert await app.engagement.unlike(USER, video.id) == 0
    assert await app.engagement.unlike(USER, video.id) == 0


async def test_a_newer_copy_in_the_store_wins_over_the_row() -> None:
    app = wired()
    video = app.video_rows.add(9, like_count=3, counters_version=5)
    await app.store.cache_counters([(video.id, Counters(4, 0, 6))])
    view = await app.videos.get(None, video.id)
    assert view.engagement is not None
    assert view.engagement.like_count == 4


async def test_an_older_copy_in_the_store_loses_to_the_row_and_is_replaced() -> None:
    app = wired()
    video = app.video_rows.add(9, like_count=3, counters_version=5)
    await app.store.cache_counters([(video.id, Counters(1, 0, 2))])
    view = await app.videos.get(None, video.id)
    assert view.engagement is not None
    assert view.engagement.like_count == 3
    snapshot = (await app.store.read([video.id]))[video.id]
    assert snapshot.counters is not None
    assert (snapshot.counters.likes, snapshot.counters.version) == (3, 5)


async def test_views_not_yet_flushed_are_added_to_the_durable_count() -> None:
    app = wired()
    video = app.video_rows.add(9, view_count=100)
    for n in range(3):
        await app.engagement.count_view(None, video.id, viewer_id=None, client_ip=f"198.51.100.{n}")
    view = await app.videos.get(None, video.id)
    assert view.engagement is not None
    assert view.engagement.view_count == 103


async def test_a_cached_row_with_no_counters_in_the_store_reads_them_again() -> None:
    """After a Redis restart the store has no counters, and the row in this worker's cache may be
    older than PostgreSQL's: the counters are read again rather than served from the old row."""
    app = wired()
    video = app.video_rows.add(9)
    await app.videos.get(None, video.id)  # the row is now in the worker's cache
    await app.engagement_rows.like(video.id, 42)  # committed elsewhere; this worker's copy is older
    app.store._counters.clear()  # Redis restarted empty
    view = await app.videos.get(None, video.id)
    assert view.engagement is not None
    assert view.engagement.like_count == 1
    assert app.engagement_rows.counter_reads == 1


class _DownStore(MemoryEngagementStore):
    async def read(self, video_ids: Any, liked_by: int | None = None) -> Any:
        raise StoreUnavailable("redis is down")


async def test_with_the_store_down_metadata_is_served_without_engagement() -> None:
    app = wired(store=_DownStore())
    video = app.video_rows.add(9)
    view = await app.videos.get(None, video.id)
    assert view.video.id == video.id
    assert view.engagement is None


async def test_the_callers_own_like_is_on_every_video_for_a_signed_in_caller_only() -> None:
    app = wired()
    liked, other = app.video_rows.add(9), app.video_rows.add(9)
    await app.engagement.like(USER, liked.id)
    assert (await app.videos.get(USER, liked.id)).liked is True
    assert (await app.videos.get(USER, other.id)).liked is False
    assert (await app.videos.get(None, liked.id)).liked is None
