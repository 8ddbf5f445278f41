"""Comment threads in PostgreSQL and in the embedded SQLite: counts exact under concurrency (replies,
approvals, deletes of one thread at once), replies one level deep, held comments uncounted until
approved."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from halo.config import Settings
from halo.db import database
from halo.db.models import Comment
from halo.repositories.comments import CommentRepository, ParentRefused
from halo.repositories.engagement import EngagementRepository
from halo.repositories.sql import Sql
from halo.repositories.videos import VideoRepository
from tests.integration.conftest import new_user, unique

pytestmark = pytest.mark.usefixtures("orm")


@pytest.fixture(params=["postgres", "sqlite"])
async def orm(request: pytest.FixtureRequest, settings: Settings, tmp_path: Path) -> AsyncIterator[None]:
    """Each test on the run's PostgreSQL database, and again on a SQLite database of its own."""
    if request.param == "sqlite":
        settings = Settings(env="development", database_url=f"sqlite://{tmp_path}/halo.db", bcrypt_rounds=4)
        await database.migrate(settings, report=lambda _: None)
    await database.open_orm(settings)
    yield
    await database.close_orm()


async def _user() -> int:
    return (await new_user()).id


async def _video(owner: int) -> int:
    return (await VideoRepository().create(owner, {"title": unique("v")})).id


async def _counts(video: int) -> tuple[int, int]:
    """(comment_count on the row, published comments really there)."""
    counters = await EngagementRepository().counters(video)
    raw = await Sql().fetchrow(
        "SELECT count(*) AS n FROM comments WHERE video_id = $1 AND status = 'published'", video
    )
    assert counters is not None and raw is not None
    return counters.comment_count, int(raw["n"])


async def test_concurrent_replies_count_each_once() -> None:
    user = await _user()
    video = await _video(user)
    repo = CommentRepository()
    parent, _ = await repo.add(video, user, "top", parent_id=None, status="published")
    await asyncio.gather(
        *(repo.add(video, user, f"reply {n}", parent_id=parent.id, status="published") for n in range(20))
    )
    assert (await repo.get(parent.id)).reply_count == 20  # type: ignore[union-attr]
    assert await _counts(video) == (21, 21)


async def test_deleting_a_thread_while_replies_arrive_keeps_the_count_exact() -> None:
    user = await _user()
    video = await _video(user)
    repo = CommentRepository()
    parent, _ = await repo.add(video, user, "top", parent_id=None, status="published")
    await repo.add(video, user, "other top", parent_id=None, status="published")

    async def reply(n: int) -> None:
        with contextlib.suppress(ParentRefused):  # the parent went first: refused, not orphaned
            await repo.add(video, user, f"reply {n}", parent_id=parent.id, status="published")

    await asyncio.gather(
        *(reply(n) for n in range(15)), repo.delete(parent.id), *(reply(n) for n in range(15))
    )
    assert await _counts(video) == (1, 1)


async def test_held_comments_count_once_approved_even_when_approved_at_once() -> None:
    owner, author = await _user(), await _user()
    video = await _video(owner)
    repo = CommentRepository()
    held, _ = await repo.add(video, author, "please", parent_id=None, status="held")
    assert held.status == "held"
    assert await _counts(video) == (0, 0)
    results = await asyncio.gather(*(repo.approve(held.id) for _ in range(10)))
    assert sum(1 for result in results if result is not None and result[1] is not None) == 1
    assert await _counts(video) == (1, 1)


async def test_a_reply_to_a_reply_or_to_a_held_comment_is_refused() -> None:
    user = await _user()
    video, other_video = await _video(user), await _video(user)
    repo = CommentRepository()
    top, _ = await repo.add(video, user, "top", parent_id=None, status="published")
    reply, _ = await repo.add(video, user, "reply", parent_id=top.id, status="published")
    held, _ = await repo.add(video, user, "held", parent_id=None, status="held")
    for parent in (reply.id, held.id, 9_000_000_000_000):
        with pytest.raises(ParentRefused):
            await repo.add(video, user, "nope", parent_id=parent, status="published")
    with pytest.raises(ParentRefused):
        await repo.add(other_video, user, "elsewhere", parent_id=top.id, status="published")


async def test_deleting_a_top_level_comment_takes_its_published_replies_off_the_count() -> None:
    user = await _user()
    video = await _video(user)
    repo = CommentRepository()
    top, _ = await repo.add(video, user, "top", parent_id=None, status="published")
    for n in range(3):
        await repo.add(video, user, f"r{n}", parent_id=top.id, status="published")
    await repo.add(video, user, "held reply", parent_id=top.id, status="held")
    assert await _counts(video) == (4, 4)
    result = await repo.delete(top.id)
    assert result is not None and result[1] is not None and result[1].comment_count == 0
    assert await _counts(video) == (0, 0)
    assert await repo.replies_page(top.id, after=None, limit=10) == []


async def test_comments_made_on_a_whole_second_page_in_their_place() -> None:
    """SQLite keeps datetimes as text: one written without its ".000000" would sort before the
    cursor of the same instant, and the next page would show it again."""
    user = await _user()
    video = await _video(user)
    second = datetime(2026, 1, 1, 12, tzinfo=UTC)
    made = [
        await Comment.create(
            video_id=video, user_id=user, body=str(n), created_at=second + timedelta(microseconds=n)
        )
        for n in (0, 0, 1)
    ]
    repo = CommentRepository()
    first = await repo.top_level_page(video, "published", after=None, limit=2)
    rest = await repo.top_level_page(video, "published", after=(first[-1].created_at, first[-1].id), limit=10)
    assert [comment.id for comment in first + rest] == [made[2].id, made[1].id, made[0].id]
