"""Counted views: one per viewer and video per window, atomic under concurrency, on all three stores."""

from __future__ import annotations

import asyncio

from halo.engagement.store import EngagementStore
from tests.integration.conftest import new_id


async def test_concurrent_first_views_of_one_viewer_count_once(store: EngagementStore) -> None:
    video = new_id()
    tallies = await asyncio.gather(*(store.add_view(video, "a:viewer-one", 60) for _ in range(25)))
    assert sum(tally.counted for tally in tallies) == 1
    assert (await store.read([video]))[video].views.beyond(0) == 1
    assert all(tally.beyond(0) == 1 for tally in tallies if not tally.counted)


async def test_each_viewer_counts_once_per_video(store: EngagementStore) -> None:
    video, other = new_id(), new_id()
    viewers = [f"a:viewer-{n:04d}" for n in range(10)]
    tallies = await asyncio.gather(
        *(store.add_view(v, viewer, 60) for viewer in viewers for v in (video, other) for _ in range(3))
    )
    assert sum(tally.counted for tally in tallies) == 20
    snapshots = await store.read([video, other])
    assert snapshots[video].views.beyond(0) == 10
    assert snapshots[other].views.beyond(0) == 10


async def test_window_zero_counts_every_view(store: EngagementStore) -> None:
    video = new_id()
    tallies = await asyncio.gather(*(store.add_view(video, "u:1", 0) for _ in range(7)))
    assert all(tally.counted for tally in tallies)
    assert (await store.read([video]))[video].views.beyond(0) == 7


async def test_a_view_counts_again_after_the_window(store: EngagementStore) -> None:
    video = new_id()
    assert (await store.add_view(video, "ip:192.0.2.1", 1)).counted
    assert not (await store.add_view(video, "ip:192.0.2.1", 1)).counted
    await asyncio.sleep(1.2)
    assert (await store.add_view(video, "ip:192.0.2.1", 1)).counted
    assert (await store.read([video]))[video].views.beyond(0) == 2
