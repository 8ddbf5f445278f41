"""Anonymous first list pages come from the worker's cache, and never from before a change: a
create, change or delete on another worker whose notice never arrives still shows at once,
through the lists mark read with the page's counts."""

from __future__ import annotations

from typing import Any

import pytest

from halo.engagement.store import LISTS_MARK_ID
from halo.services.first_pages import CachedPage, FirstPages
from halo.services.videos import ListQuery, VideoService
from tests.unit.services.fakes import FakeVideoRepository, principal
from tests.unit.services.test_changes import Clock, SwitchableStore
from tests.unit.services.test_changes import worker as deaf_worker

OWNER = principal(1, adult=True)
FIRST = ListQuery(limit=3)


def worker(rows: FakeVideoRepository, store: SwitchableStore, clock: Clock) -> VideoService:
    """One worker with its own caches, first pages included, and event bus: it hears no other
    worker's notices."""
    return deaf_worker(rows, store, clock, pages=FirstPages(clock=clock))


@pytest.fixture
def fleet() -> tuple[FakeVideoRepository, SwitchableStore, Clock]:
    rows = FakeVideoRepository()
    for n in range(5):
        rows.add(OWNER.user_id, title=f"video {n}")
    return rows, SwitchableStore(), Clock()


async def titles(service: VideoService, query: ListQuery = FIRST) -> list[str]:
    return [view.video.title for view in (await service.list_videos(None, query)).items]


async def test_the_second_read_of_a_first_page_asks_no_query(fleet: Any) -> None:
    rows, store, clock = fleet
    reader = worker(rows, store, clock)
    first = await reader.list_videos(None, FIRST)
    assert rows.pages == 1
    again = await reader.list_videos(None, FIRST)
    assert rows.pages == 1
    assert [view.video.id for view in again.items] == [view.video.id for view in first.items] == [5, 4, 3]
    assert again.next_cursor == first.next_cursor is not None
    await reader.list_videos(None, ListQuery(limit=3, sort="title"))  # another page: its own entry
    assert rows.pages == 2


async def test_counts_on_a_cached_page_are_read_each_time(fleet: Any) -> None:
    rows, store, clock = fleet
    reader = worker(rows, store, clock)
    await reader.list_videos(None, FIRST)
    await store.add_view(5)
    page = await reader.list_videos(None, FIRST)
    assert rows.pages == 1
    assert page.items[0].engagement is not None and page.items[0].engagement.view_count == 1


async def test_a_video_created_on_a_worker_whose_notice_is_lost_is_listed_at_once(fleet: Any) -> None:
    rows, store, clock = fleet
    writer, deaf = worker(rows, store, clock), worker(rows, store, clock)
    await titles(deaf)
    await writer.create(OWNER, {"title": "brand new"})
    assert await titles(deaf) == ["brand new", "video 4", "video 3"]


async def test_a_change_elsewhere_reorders_and_renames_at_once(fleet: Any) -> None:
    rows, store, clock = fleet
    writer, deaf = worker(rows, store, clock), worker(rows, store, clock)
    by_title = ListQuery(limit=3, sort="title")
    assert await titles(deaf, by_title) == ["video 0", "video 1", "video 2"]
    await writer.update(OWNER, 5, {"title": "a first"})
    assert await titles(deaf, by_title) == ["a first", "video 0", "video 1"]


async def test_a_delete_or_an_adult_flag_elsewhere_leaves_the_page_at_once(fleet: Any) -> None:
    rows, store, clock = fleet
    writer, deaf = worker(rows, store, clock), worker(rows, store, clock)
    assert await titles(deaf) == ["video 4", "video 3", "video 2"]
    await writer.delete(OWNER, 5)
    assert await titles(deaf) == ["video 3", "video 2", "video 1"]
    await writer.update(OWNER, 4, {"is_adult_content": True})
    assert await titles(deaf) == ["video 2", "video 1", "video 0"]


async def test_a_worker_drops_its_pages_on_its_own_writes_and_on_notices(fleet: Any) -> None:
    rows, store, clock = fleet
    reader = worker(rows, store, clock)
    await reader.list_videos(None, FIRST)
    await reader.update(OWNER, 1, {"title": "renamed"})  # not on the page: still the page is read again
    await reader.list_videos(None, FIRST)
    assert rows.pages == 2
    reader.on_notice({"kind": "changed", "ids": [2]})
    await reader.list_videos(None, FIRST)
    assert rows.pages == 3
    reader.on_notices_lost()
    await reader.list_videos(None, FIRST)
    assert rows.pages == 4


async def test_without_the_store_pages_are_read_each_time_and_not_cached(fleet: Any) -> None:
    rows, store, clock = fleet
    reader = worker(rows, store, clock)
    store.down = True
    for expected in (1, 2):
        page = await reader.list_videos(None, FIRST)
        assert page.degraded
        assert rows.pages == expected
    store.down = False
    await reader.list_videos(None, FIRST)
    await reader.list_videos(None, FIRST)
    assert rows.pages == 3


async def test_signed_in_callers_cursors_and_view_count_orders_are_never_cached(fleet: Any) -> None:
    rows, store, clock = fleet
    reader = worker(rows, store, clock)
    page = await reader.list_videos(None, FIRST)
    queries = 0
    for viewer, query in (
        (OWNER, FIRST),
        (None, ListQuery(limit=3, cursor=page.next_cursor)),
        (None, ListQuery(limit=3, sort="-view_count")),
    ):
        for _ in range(2):
            await reader.list_videos(viewer, query)
            queries += 1
            assert rows.pages == 1 + queries


async def test_without_the_video_cache_no_page_is_cached(fleet: Any) -> None:
    """VIDEO_CACHE_SIZE=0: a cached page's rows would come from the video cache, so pages go too."""
    rows, store, clock = fleet
    reader = deaf_worker(rows, store, clock, pages=FirstPages(clock=clock), cache_size=0)
    for expected in (1, 2):
        assert await titles(reader) == ["video 4", "video 3", "video 2"]
        assert rows.pages == expected


async def test_a_page_lives_a_few_seconds_at_most(fleet: Any) -> None:
    rows, store, clock = fleet
    reader = worker(rows, store, clock)
    await reader.list_videos(None, FIRST)
    clock.now += 4
    await reader.list_videos(None, FIRST)
    assert rows.pages == 1
    clock.now += 2  # past TTL_SECONDS since it was read
    await reader.list_videos(None, FIRST)
    assert rows.pages == 2


async def test_the_mark_the_page_was_read_under_decides(fleet: Any) -> None:
    rows, store, clock = fleet
    reader = worker(rows, store, clock)
    await reader.list_videos(None, FIRST)
    await store.mark_lists_changed()  # a change elsewhere, its notice lost
    await reader.list_videos(None, FIRST)
    assert rows.pages == 2
    assert (await store.read([LISTS_MARK_ID]))[LISTS_MARK_ID].changed_ms == 1


def test_a_page_read_across_a_drop_is_not_stored() -> None:
    clock = Clock()
    pages = FirstPages(size=2, clock=clock)
    generation = pages.generation
    pages.clear()  # a change while the page was read
    pages.put("a", CachedPage((1,), None, 1), generation)
    assert pages.get("a") is None
    pages.put("a", CachedPage((1,), None, 1), pages.generation)
    assert pages.get("a") == CachedPage((1,), None, 1)


def test_the_least_recently_used_page_goes_first() -> None:
    pages = FirstPages(size=2, clock=Clock())
    for key in ("a", "b"):
        pages.put(key, CachedPage((), None, None), pages.generation)
    pages.get("a")
    pages.put("c", CachedPage((), None, None), pages.generation)
    assert pages.get("b") is None
    assert pages.get("a") is not None and pages.get("c") is not None
    assert len(pages) == 2
