"""A change reaches every worker's cached copy even when its notice is lost (pub/sub drops them)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from halo.engagement.memory_store import MemoryEngagementStore
from halo.redis.event_bus import LocalEventBus
from halo.redis.link import StoreUnavailable
from halo.security.cursors import CursorCodec
from halo.services.engagement import CounterMerge
from halo.services.errors import NotFound
from halo.services.first_pages import FirstPages
from halo.services.trending import TrendingRanking
from halo.services.video_cache import VideoCache
from halo.services.videos import VideoService
from tests.unit.services.fakes import FakeEngagementRepository, FakeVideoRepository, principal

OWNER = principal(1, adult=True)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class SwitchableStore(MemoryEngagementStore):
    """The in-process store, which the test can make unreachable."""

    down = False

    async def read(self, video_ids: Any, liked_by: int | None = None) -> Any:
        if self.down:
            raise StoreUnavailable("redis is down")
        return await super().read(video_ids, liked_by)


def worker(
    rows: FakeVideoRepository,
    store: MemoryEngagementStore,
    clock: Clock,
    pages: FirstPages | None = None,
    cache_size: int = 100,
) -> VideoService:
    """One worker: its own caches and its own event bus (so it hears no other worker's notices)."""
    cursors = CursorCodec("unit-test-secret-" + "x" * 32)
    return VideoService(
        videos=rows,  # type: ignore[arg-type]
        counters=CounterMerge(store, FakeEngagementRepository(rows)),  # type: ignore[arg-type]
        store=store,
        cursors=cursors,
        cache=VideoCache(size=cache_size, ttl_seconds=60, clock=clock),
        events=LocalEventBus(),
        trending=TrendingRanking(store=store, videos=rows, cursors=cursors, refresh_seconds=60),  # type: ignore[arg-type]
        pages=pages,
    )


@pytest.fixture
def fleet() -> tuple[FakeVideoRepository, SwitchableStore, Clock]:
    return FakeVideoRepository(), SwitchableStore(), Clock()


async def test_an_adult_flag_reaches_a_worker_that_missed_its_notice(fleet: Any) -> None:
    rows, store, clock = fleet
    writer, deaf = worker(rows, store, clock), worker(rows, store, clock)
    video = rows.add(OWNER.user_id)
    assert (await deaf.get(None, video.id)).video.id == video.id  # cached by the deaf worker
    await writer.update(OWNER, video.id, {"is_adult_content": True})  # its notice never reaches `deaf`
    with pytest.raises(NotFound):
        await deaf.get(None, video.id)


async def test_without_the_store_a_cached_row_is_used_for_a_few_seconds_only(fleet: Any) -> None:
    rows, store, clock = fleet
    reader = worker(rows, store, clock)
    video = rows.add(OWNER.user_id)
    await reader.get(None, video.id)
    gets = rows.gets
    store.down = True
    await reader.get(None, video.id)
    assert rows.gets == gets  # young enough: still the cached copy
    clock.now += 6
    await reader.get(None, video.id)
    assert rows.gets == gets + 1  # read again: no change mark can be read meanwhile


async def test_writes_check_visibility_on_a_recent_row(fleet: Any) -> None:
    rows, store, clock = fleet
    reader = worker(rows, store, clock)
    video = rows.add(OWNER.user_id)
    await reader.visible(None, video.id)
    rows.rows[video.id] = dataclasses.replace(rows.rows[video.id], is_adult_content=True)  # elsewhere
    clock.now += 6
    with pytest.raises(NotFound):
        await reader.visible(None, video.id)
