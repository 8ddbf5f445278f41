"""Trending: counted views in hourly buckets, one refresher of the fleet per interval, numbered
rankings that cursors stay pinned to, on all three stores."""

from __future__ import annotations

import asyncio
import time

import pytest

from halo.engagement.memory_store import MemoryEngagementStore
from halo.engagement.store import EngagementStore
from halo.repositories.videos import ListFilters, VideoRepository, Visibility
from halo.security.cursors import CursorCodec
from halo.services.errors import BadInput
from halo.services.trending import TrendingQuery, TrendingRanking
from tests.integration.conftest import new_id, new_user, unique


async def test_counted_views_are_trending_views(store: EngagementStore) -> None:
    hot, warm, repeated = new_id(), new_id(), new_id()
    for n in range(3):
        await store.add_view(hot, f"a:viewer-{n:04d}", 60)
    await store.add_view(warm, "a:viewer-0000", 60)
    for _ in range(5):
        await store.add_view(repeated, "a:viewer-0000", 60)  # one counted view
    views = await store.trending_views()
    assert (views[hot], views[warm], views[repeated]) == (3, 1, 1)


async def test_a_deleted_video_leaves_the_trending_views(store: EngagementStore) -> None:
    video = new_id()
    await store.add_view(video, None, 0)
    await store.forget(video)
    assert video not in await store.trending_views()


async def test_one_refresher_of_many_takes_the_lease(store: EngagementStore) -> None:
    while not await store.claim_ranking_refresh(0.3):  # a previous test's lease runs out
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.4)
    claims = await asyncio.gather(*(store.claim_ranking_refresh(0.5) for _ in range(12)))
    assert sum(claims) == 1


async def test_rankings_are_numbered_and_the_older_stay_readable(store: EngagementStore) -> None:
    first = await store.save_ranking([new_id(), new_id()])
    second = await store.save_ranking([new_id()])
    assert second.number > first.number
    assert await store.ranking() == second
    older = await store.ranking(first.number)
    assert older is not None and older.ids == first.ids
    assert await store.ranking(second.number + 1000) is None


# --- pages over the run's PostgreSQL, a ranking replaced in the middle of a walk ----------


@pytest.mark.usefixtures("orm")
async def test_a_walk_stays_on_its_ranking_when_a_newer_one_replaces_it() -> None:
    owner = await new_user()
    repo = VideoRepository()
    videos = [(await repo.create(owner.id, {"title": unique("t")})).id for _ in range(7)]
    store = MemoryEngagementStore()
    # views: videos[0] 3, videos[1] 1, videos[2] 1 (tie: higher id first), the rest none
    for n, video in enumerate([videos[0]] * 3 + [videos[1], videos[2]]):
        await store.add_view(video, f"a:viewer-{n:04d}", 60)
    ranking = TrendingRanking(store=store, videos=repo, cursors=CursorCodec("k" * 32), refresh_seconds=60)
    await ranking.build()
    scope = ["videos", "-trending", owner.id, None, None]
    query = TrendingQuery(2, None, ListFilters(user_id=owner.id), Visibility(None, False))

    first = await ranking.page(query, scope)
    assert [row.id for row in first.items] == [videos[0], videos[2]]
    # meanwhile the order changes and a new ranking replaces the one the walk is on
    for n in range(10):
        await store.add_view(videos[6], f"a:later-{n:04d}", 60)
    await ranking.build()
    seen = [row.id for row in first.items]
    cursor = first.next_cursor
    while cursor:
        page = await ranking.page(TrendingQuery(2, cursor, query.filters, query.visibility), scope)
        seen += [row.id for row in page.items]
        cursor = page.next_cursor
    assert seen == [videos[0], videos[2], videos[1], *sorted(videos[3:], reverse=True)]
    # a new walk reads the new ranking
    assert [row.id for row in (await ranking.page(query, scope)).items] == [videos[6], videos[0]]


@pytest.mark.usefixtures("orm")
async def test_a_cursor_whose_ranking_is_gone_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    owner = await new_user()
    repo = VideoRepository()
    for _ in range(3):
        await repo.create(owner.id, {"title": unique("t")})
    store = MemoryEngagementStore()
    ranking = TrendingRanking(store=store, videos=repo, cursors=CursorCodec("k" * 32), refresh_seconds=60)
    scope = ["videos", "-trending", owner.id, None, None]
    query = TrendingQuery(1, None, ListFilters(user_id=owner.id), Visibility(None, False))
    page = await ranking.page(query, scope)
    assert page.next_cursor
    later = time.time() + 601  # the ranking and the worker's parsed copy are 10 minutes old
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(BadInput) as refused:
        await ranking.page(TrendingQuery(1, page.next_cursor, query.filters, query.visibility), scope)
    assert refused.value.details[0].field == "cursor"
