"""In-memory stand-ins for the repositories, so that the services' rules can be tested alone.
The engagement store is the real in-process one (the embedded default)."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from halo.engagement.memory_store import MemoryEngagementStore
from halo.redis.event_bus import LocalEventBus
from halo.repositories.engagement import CounterRow, LikeRow
from halo.repositories.videos import ListFilters, Sort, VideoRow, Visibility
from halo.security.cursors import CursorCodec
from halo.services.auth import Principal
from halo.services.comments import CommentService
from halo.services.engagement import CounterMerge, EngagementService
from halo.services.trending import TrendingRanking
from halo.services.video_cache import VideoCache
from halo.services.videos import VideoService

_DEFAULTS: dict[str, Any] = {"title": "A video", "is_live": False, "is_adult_content": False}
_START = datetime(2026, 1, 1, tzinfo=UTC)


def principal(user_id: int, *, adult: bool = False, adult_mode: bool = False) -> Principal:
    return Principal(
        user_id=user_id, jti=f"jti-{user_id}", expires_at=2**31, is_adult=adult, adult_mode=adult_mode
    )


def _visible(row: VideoRow, visibility: Visibility) -> bool:
    return (
        not row.is_adult_content
        or visibility.sees_all_adult
        or (visibility.viewer_id is not None and row.user_id == visibility.viewer_id)
    )


class FakeVideoRepository:
    def __init__(self) -> None:
        self.rows: dict[int, VideoRow] = {}
        self._ids = itertools.count(1)
        self.gets = 0
        self.pages = 0  # page queries

    def add(self, user_id: int, **fields: Any) -> VideoRow:
        video_id = next(self._ids)
        created = _START + timedelta(seconds=video_id)
        values: dict[str, Any] = {}
        for field in dataclasses.fields(VideoRow):
            if field.name.endswith(("_count", "_seq", "_version")):
                values[field.name] = 0
            else:
                values[field.name] = _DEFAULTS.get(field.name)
        values.update(id=video_id, user_id=user_id, created_at=created, updated_at=created, **fields)
        row = self.rows[video_id] = VideoRow(**values)
        return row

    async def get(self, video_id: int) -> VideoRow | None:
        self.gets += 1
        return self.rows.get(video_id)

    async def create(self, user_id: int, fields: dict[str, Any]) -> VideoRow:
        return self.add(user_id, **{k: v for k, v in fields.items() if v is not None})

    async def update(self, video_id: int, changes: dict[str, Any]) -> VideoRow | None:
        row = self.rows.get(video_id)
        if row is None:
            return None
        changes = {"updated_at": row.updated_at + timedelta(milliseconds=1), **changes}
        row = self.rows[video_id] = dataclasses.replace(row, **changes)
        return row

    async def delete(self, video_id: int) -> bool:
        return self.rows.pop(video_id, None) is not None

    async def page(
        self, *, sort: Sort, filters: ListFilters, visibility: Visibility, after: Any, limit: int
    ) -> list[VideoRow]:
        self.pages += 1
        field, descending = sort.lstrip("-"), sort.startswith("-")
        rows = [
            row
            for row in self.rows.values()
            if _visible(row, visibility) and (filters.user_id is None or row.user_id == filters.user_id)
        ]
        rows.sort(key=lambda row: (getattr(row, field), row.id), reverse=descending)
        if after is not None:
            rows = [
                row
                for row in rows
                if (
                    (getattr(row, field), row.id) < after
                    if descending
                    else (getattr(row, field), row.id) > after
                )
            ]
        return rows[:limit]

    async def by_ids(self, ids: Sequence[int], visibility: Visibility) -> list[VideoRow]:
        return [self.rows[i] for i in ids if i in self.rows and _visible(self.rows[i], visibility)]


class FakeEngagementRepository:
    """Likes as a set; the counters on the fake video rows, each change bumping the version."""

    def __init__(self, videos: FakeVideoRepository) -> None:
        self._videos = videos
        self.likes: set[tuple[int, int]] = set()
        self.counter_reads = 0

    def _bump(self, video_id: int, likes: int) -> CounterRow:
        row = self._videos.rows[video_id]
        row = self._videos.rows[video_id] = dataclasses.replace(
            row, like_count=row.like_count + likes, counters_version=row.counters_version + 1
        )
        return CounterRow(row.like_count, row.comment_count, row.counters_version)

    async def like(self, video_id: int, user_id: int) -> tuple[bool, CounterRow]:
        if (video_id, user_id) in self.likes:
            return False, await self._counters(video_id)
        self.likes.add((video_id, user_id))
        return True, self._bump(video_id, +1)

    async def unlike(self, video_id: int, user_id: int) -> tuple[bool, CounterRow]:
        if (video_id, user_id) not in self.likes:
            return False, await self._counters(video_id)
        self.likes.discard((video_id, user_id))
        return True, self._bump(video_id, -1)

    async def like_states(self, pairs: Sequence[tuple[int, int]]) -> list[LikeRow]:
        return [
            LikeRow(video, user, (video, user) in self.likes, self._videos.rows[video].counters_version)
            for user, video in pairs
            if video in self._videos.rows
        ]

    async def counters(self, video_id: int) -> CounterRow | None:
        self.counter_reads += 1
        return await self._counters(video_id) if video_id in self._videos.rows else None

    async def _counters(self, video_id: int) -> CounterRow:
        row = self._videos.rows[video_id]
        return CounterRow(row.like_count, row.comment_count, row.counters_version)


class FakeCommentRepository:
    """No comments: the services' rules before any comment is read (visibility, cursors)."""

    async def top_level_page(self, video_id: int, status: str, *, after: Any, limit: int) -> list[Any]:
        return []


@dataclasses.dataclass
class Wired:
    videos: VideoService
    engagement: EngagementService
    comments: CommentService
    video_rows: FakeVideoRepository
    engagement_rows: FakeEngagementRepository
    store: MemoryEngagementStore
    cursors: CursorCodec


def wired(store: Any = None) -> Wired:
    video_rows = FakeVideoRepository()
    engagement_rows = FakeEngagementRepository(video_rows)
    store = store or MemoryEngagementStore()
    cursors = CursorCodec("unit-test-secret-" + "x" * 32)
    counters = CounterMerge(store, engagement_rows)  # type: ignore[arg-type]
    videos = VideoService(
        videos=video_rows,  # type: ignore[arg-type]
        counters=counters,
        store=store,
        cursors=cursors,
        cache=VideoCache(size=100, ttl_seconds=60),
        events=LocalEventBus(),
        trending=TrendingRanking(
            store=store,
            videos=video_rows,  # type: ignore[arg-type]
            cursors=cursors,
            refresh_seconds=60,
        ),
    )
    engagement = EngagementService(
        videos=videos,
        engagement=engagement_rows,  # type: ignore[arg-type]
        store=store,
        counters=counters,
        presence_ttl_seconds=30,
    )
    comments = CommentService(
        videos=videos,
        comments=FakeCommentRepository(),  # type: ignore[arg-type]
        counters=counters,
        cursors=cursors,
    )
    return Wired(videos, engagement, comments, video_rows, engagement_rows, store, cursors)
