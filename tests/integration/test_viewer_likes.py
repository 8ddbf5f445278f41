"""The caller's own likes (`viewer.liked`): cached in the engagement store beside the counters,
stamped with the video's `counters_version`; what the cache lacks comes from PostgreSQL, the reads
of requests arriving together in one query, and is cached for the next read."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from halo.engagement.store import EngagementStore
from halo.repositories.engagement import EngagementRepository, LikeRow
from halo.repositories.videos import VideoRepository, VideoRow
from halo.services.auth import Principal
from halo.services.engagement import CounterMerge
from tests.integration.conftest import new_user, unique

pytestmark = pytest.mark.usefixtures("orm")


class CountingRepository(EngagementRepository):
    def __init__(self) -> None:
        super().__init__()
        self.queries = 0
        self.answered = 0  # queries whose rows are read
        self.hold: asyncio.Event | None = None  # when set: answers wait for it after reading

    async def like_states(self, pairs: Sequence[tuple[int, int]]) -> list[LikeRow]:
        self.queries += 1
        rows = await super().like_states(pairs)
        self.answered += 1
        if self.hold is not None:
            await self.hold.wait()
        return rows


async def _user() -> Principal:
    user = await new_user()
    return Principal(user.id, "jti", 0, is_adult=False, adult_mode=False)


ROWS: dict[int, VideoRow] = {}  # the videos the tests made, as a page would read them


async def _videos(count: int) -> list[int]:
    owner = await _user()
    rows = [await VideoRepository().create(owner.user_id, {"title": unique("v")}) for _ in range(count)]
    ROWS.update((row.id, row) for row in rows)
    return [row.id for row in rows]


async def _liked(merge: CounterMerge, viewer: Principal, video_ids: list[int]) -> set[int]:
    """The videos `viewer` likes among these, as a page or batch read shows them (`viewer.liked`)."""
    views, _ = await merge.with_engagement([ROWS[video_id] for video_id in video_ids], viewer)
    return {view.video.id for view in views if view.liked}


async def test_concurrent_readers_share_one_query_then_read_the_cache(store: EngagementStore) -> None:
    videos = await _videos(4)
    readers = [await _user() for _ in range(6)]
    repository = CountingRepository()
    for index, reader in enumerate(readers):
        for video in videos[: index % 4]:
            await repository.like(video, reader.user_id)
    merge = CounterMerge(store, repository)
    expected = [set(videos[: index % 4]) for index in range(len(readers))]

    assert await asyncio.gather(*(_liked(merge, reader, videos) for reader in readers)) == expected
    assert repository.queries == 1
    assert await asyncio.gather(*(_liked(merge, reader, videos) for reader in readers)) == expected
    assert repository.queries == 1  # every state was cached by the first round


async def test_a_like_and_an_unlike_show_in_the_next_read_of_another_reader(store: EngagementStore) -> None:
    """What the like path does (PostgreSQL, then the cache with the new version) seen through a
    second CounterMerge over the same store: another worker of the fleet."""
    (video,) = await _videos(1)
    fan = await _user()
    repository = EngagementRepository()
    writer, reader = CounterMerge(store, repository), CounterMerge(store, repository)
    assert await _liked(reader, fan, [video]) == set()  # cached as "not liked"
    _, counters = await repository.like(video, fan.user_id)
    await writer.cache_like(video, fan.user_id, True, counters)
    assert await _liked(reader, fan, [video]) == {video}
    _, counters = await repository.unlike(video, fan.user_id)
    await writer.cache_like(video, fan.user_id, False, counters)
    assert await _liked(reader, fan, [video]) == set()


async def test_an_answer_read_before_a_like_never_overwrites_it(store: EngagementStore) -> None:
    (video,) = await _videos(1)
    fan = await _user()
    repository = CountingRepository()
    merge = CounterMerge(store, repository)
    repository.hold = asyncio.Event()
    slow_reader = asyncio.create_task(_liked(merge, fan, [video]))
    while repository.answered == 0:  # its PostgreSQL read is done; its answer ("not liked") waits
        await asyncio.sleep(0.01)
    _, counters = await EngagementRepository().like(video, fan.user_id)
    await merge.cache_like(video, fan.user_id, True, counters)
    repository.hold.set()
    assert await slow_reader == set()  # it asked before the like
    assert await _liked(merge, fan, [video]) == {video}  # and its late answer was not cached over it
    assert repository.queries == 1
