"""The caller's own likes (`viewer.liked`): read from PostgreSQL, the reads of requests arriving
together in one query, right after a like."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from halo.engagement.memory_store import MemoryEngagementStore
from halo.repositories.engagement import EngagementRepository
from halo.repositories.users import UserRepository
from halo.repositories.videos import VideoRepository
from halo.services.auth import Principal
from halo.services.engagement import CounterMerge
from tests.integration.conftest import unique

pytestmark = pytest.mark.usefixtures("orm")


class CountingRepository(EngagementRepository):
    def __init__(self) -> None:
        super().__init__()
        self.queries = 0

    async def liked_pairs(self, pairs: Sequence[tuple[int, int]]) -> set[tuple[int, int]]:
        self.queries += 1
        return await super().liked_pairs(pairs)


async def _user() -> Principal:
    user = await UserRepository().create(
        email=f"{unique()}@example.com",
        username=unique(),
        password_hash="x",
        display_name="U",
        is_adult=False,
    )
    return Principal(user.id, "jti", 0, is_adult=False, adult_mode=False)


async def test_concurrent_readers_each_get_their_own_likes_from_one_query() -> None:
    owner = await _user()
    videos = [(await VideoRepository().create(owner.user_id, {"title": unique("v")})).id for _ in range(4)]
    readers = [await _user() for _ in range(6)]
    repository = CountingRepository()
    for index, reader in enumerate(readers):
        for video in videos[: index % 4]:
            await repository.like(video, reader.user_id)
    merge = CounterMerge(MemoryEngagementStore(), repository)
    answers = await asyncio.gather(*(merge.liked(reader, videos) for reader in readers))
    assert answers == [set(videos[: index % 4]) for index in range(len(readers))]
    assert repository.queries == 1


async def test_a_like_shows_in_the_next_read() -> None:
    owner, fan = await _user(), await _user()
    video = (await VideoRepository().create(owner.user_id, {"title": unique("v")})).id
    repository = EngagementRepository()
    merge = CounterMerge(MemoryEngagementStore(), repository)
    assert await merge.liked(fan, [video]) == set()
    await repository.like(video, fan.user_id)
    assert await merge.liked(fan, [video]) == {video}
    await repository.unlike(video, fan.user_id)
    assert await merge.liked(fan, [video]) == set()
