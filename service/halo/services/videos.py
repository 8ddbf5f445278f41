"""Videos and their engagement: visibility, ownership, counts and presence.

Visibility comes first everywhere: adult content exists only for its owner
and for adults in adult mode; to anybody else it is a 404, on the video and
on every sub-resource, before any ownership check.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from halo.engagement.store import Counters, EngagementStore, Snapshot, VideoGone
from halo.redis.event_bus import EventBus
from halo.redis.link import StoreUnavailable
from halo.repositories.engagement import CommentRow, CounterRow, EngagementRepository, VideoMissing
from halo.repositories.videos import ListFilters, Sort, VideoRepository, VideoRow, Visibility
from halo.security.cursors import CursorCodec, InvalidCursor
from halo.services.auth import Principal
from halo.services.errors import BadInput, FieldIssue, Forbidden, NotFound, Unavailable, ValidationFailed
from halo.services.video_cache import VideoCache

log = logging.getLogger("halo.videos")

T = TypeVar("T")
NOTICE_ROWS = 2000  # rows per flush notice: bounded messages
VIEWER_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
MAX_ID = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Engagement:
    view_count: int
    like_count: int
    comment_count: int
    live_viewers: int


@dataclass(frozen=True, slots=True)
class VideoView:
    video: VideoRow
    engagement: Engagement | None  # None: Redis unreachable, served degraded


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None
    degraded: bool = False


@dataclass(frozen=True, slots=True)
class ListQuery:
    limit: int = 20
    cursor: str | None = None
    sort: Sort = "-created_at"
    user_id: int | None = None
    is_live: bool | None = None
    q: str | None = None


def _visibility(viewer: Principal | None) -> Visibility:
    if viewer is None:
        return Visibility(None, False)
    return Visibility(viewer.user_id, viewer.sees_adult_content)


def can_see(video: VideoRow, viewer: Principal | None) -> bool:
    """The visibility rule: adult content only for its owner and adults in adult mode."""
    if not video.is_adult_content:
        return True
    return viewer is not None and (viewer.user_id == video.user_id or viewer.sees_adult_content)


def _not_found() -> NotFound:
    return NotFound("no such video")


class VideoService:
    def __init__(
        self,
        *,
        videos: VideoRepository,
        engagement: EngagementRepository,
        store: EngagementStore,
        cursors: CursorCodec,
        presence_ttl_seconds: int,
        cache: VideoCache,
        events: EventBus,
    ) -> None:
        self._videos = videos
        self._engagement = engagement
        self._store = store
        self._cursors = cursors
        self._presence_ttl = presence_ttl_seconds
        self._cache = cache
        self._events = events
        events.on_message(self._on_notice)
        events.on_reset(cache.clear)

    # --- change notices from every worker and replica ------------------------------

    def _on_notice(self, message: dict[str, Any]) -> None:
        kind = message.get("kind")
        if kind == "changed":
            self._cache.drop(message["ids"])
        elif kind == "flushed":
            self._cache.flushed(message["rows"])

    async def _changed(self, video_id: int) -> None:
        self._cache.drop([video_id])
        await self._events.publish({"kind": "changed", "ids": [video_id]})

    async def views_flushed(self, rows: list[tuple[int, int, int]]) -> None:
        """After a view flush: every worker's cached rows take their new durable counts."""
        self._cache.flushed(rows)
        for start in range(0, len(rows), NOTICE_ROWS):
            await self._events.publish({"kind": "flushed", "rows": rows[start : start + NOTICE_ROWS]})

    # --- reading -----------------------------------------------------------------

    async def list_videos(self, viewer: Principal | None, query: ListQuery) -> Page[VideoView]:
        filters = ListFilters(user_id=query.user_id, is_live=query.is_live, q=query.q or None)
        scope = ["videos", query.sort, filters.user_id, filters.is_live, filters.q]
        after = None
        if query.cursor:
            after = self._decode_position(query.cursor, scope, query.sort)
        rows = await self._videos.page(
            sort=query.sort,
            filters=filters,
            visibility=_visibility(viewer),
            after=after,
            limit=query.limit + 1,
        )
        next_cursor = None
        if len(rows) > query.limit:
            rows = rows[: query.limit]
            last = rows[-1]
            key = last.sort_key(query.sort)
            next_cursor = self._cursors.encode(
                scope, [key.isoformat() if isinstance(key, datetime) else key, last.id]
            )
        views, degraded = await self._with_engagement(rows)
        return Page(views, next_cursor, degraded)

    async def get(self, viewer: Principal | None, video_id: int) -> VideoView:
        view = await self.current(_valid_id(video_id))
        if view is None or not can_see(view.video, viewer):
            raise _not_found()
        return view

    async def current(self, video_id: int) -> VideoView | None:
        """The video with its engagement whoever asks (None once deleted): callers apply `can_see`."""
        video = self._cache.get(video_id)
        cached = video is not None
        if cached:  # the warm path: one Redis round trip
            snapshots = await self._read([video_id])
        else:  # metadata and engagement fetched concurrently, then merged
            video, snapshots = await asyncio.gather(self._load(video_id), self._read([video_id]))
        if video is None or (snapshots and snapshots[video_id].gone):
            return None
        return (await self._merge([video], snapshots, rows_are_fresh=not cached))[0]

    async def engagement(self, viewer: Principal | None, video_id: int) -> VideoView:
        return await self.get(viewer, video_id)

    # --- writing -------------------------------------------------------------------

    async def create(self, principal: Principal, fields: dict[str, Any]) -> VideoView:
        if fields.get("is_adult_content") and not principal.is_adult:
            raise Forbidden("only adult accounts may publish adult content")
        video = await self._videos.create(principal.user_id, fields)
        return VideoView(video, Engagement(0, 0, 0, 0))

    async def update(self, principal: Principal, video_id: int, changes: dict[str, Any]) -> VideoView:
        await self._owned(principal, video_id)
        if changes.get("is_adult_content") and not principal.is_adult:
            raise Forbidden("only adult accounts may mark content as adult")
        video = await self._videos.update(video_id, changes)
        await self._changed(video_id)
        if video is None:
            raise _not_found()
        views, _ = await self._with_engagement([video])
        return views[0]

    async def delete(self, principal: Principal, video_id: int) -> None:
        await self._owned(principal, video_id)
        deleted = await self._videos.delete(video_id)
        try:  # the tombstone first, so that a worker acting on a stale copy is refused by Redis
            await self._store.forget(video_id)
        except StoreUnavailable:
            log.warning("video %s deleted while Redis is down; its cached keys expire on their own", video_id)
        await self._changed(video_id)
        if not deleted:
            raise _not_found()

    async def add_view(self, viewer: Principal | None, video_id: int) -> int:
        video = await self._visible(viewer, video_id)
        try:
            tally = await self._store.add_view(video_id)
        except VideoGone:
            raise _not_found() from None
        except StoreUnavailable:
            raise Unavailable("view counting is temporarily unavailable") from None
        return video.view_count + tally.beyond(video.view_flush_seq)

    async def like(self, principal: Principal, video_id: int) -> int:
        return await self._toggle_like(principal, video_id, like=True)

    async def unlike(self, principal: Principal, video_id: int) -> int:
        return await self._toggle_like(principal, video_id, like=False)

    async def _toggle_like(self, principal: Principal, video_id: int, *, like: bool) -> int:
        await self._visible(principal, video_id)
        toggle = self._engagement.like if like else self._engagement.unlike
        try:
            changed, counters = await toggle(video_id, principal.user_id)
        except VideoMissing:
            raise _not_found() from None
        if changed:
            await self._cache_counters(video_id, counters)
        return counters.like_count

    async def comments(
        self, viewer: Principal | None, video_id: int, *, limit: int, cursor: str | None
    ) -> Page[CommentRow]:
        await self._visible(viewer, video_id)
        scope = ["comments", video_id]
        after = None
        if cursor:
            position = self._decode(cursor, scope)
            try:
                after = (datetime.fromisoformat(position[0]), int(position[1]))
            except (TypeError, ValueError, IndexError):
                raise _bad_cursor() from None
        rows = await self._engagement.comments_page(video_id, after=after, limit=limit + 1)
        next_cursor = None
        if len(rows) > limit:
            rows = rows[:limit]
            next_cursor = self._cursors.encode(scope, [rows[-1].created_at.isoformat(), rows[-1].id])
        return Page(rows, next_cursor)

    async def add_comment(self, principal: Principal, video_id: int, body: str) -> CommentRow:
        await self._visible(principal, video_id)
        try:
            comment, counters = await self._engagement.add_comment(video_id, principal.user_id, body)
        except VideoMissing:
            raise _not_found() from None
        await self._cache_counters(video_id, counters)
        return comment

    async def heartbeat(self, viewer: Principal | None, video_id: int, viewer_id: str | None) -> int:
        await self._visible(viewer, video_id)
        key = _viewer_key(viewer, viewer_id)
        try:
            return await self._store.heartbeat(video_id, key, self._presence_ttl)
        except VideoGone:
            raise _not_found() from None
        except StoreUnavailable:
            raise Unavailable("presence is temporarily unavailable") from None

    def viewer_key(self, viewer: Principal | None, viewer_id: str | None) -> str:
        """Who counts as one live viewer: the user, else the client-chosen id (422 when bad)."""
        return _viewer_key(viewer, viewer_id)

    async def leave(self, viewer: Principal | None, video_id: int, viewer_id: str | None) -> int:
        await self._visible(viewer, video_id)
        key = _viewer_key(viewer, viewer_id)
        try:
            return await self._store.leave(video_id, key)
        except VideoGone:
            raise _not_found() from None
        except StoreUnavailable:
            raise Unavailable("presence is temporarily unavailable") from None

    # --- helpers -----------------------------------------------------------------

    async def _load(self, video_id: int) -> VideoRow | None:
        return await self._cache.load(video_id, self._videos.get)

    async def _visible(self, viewer: Principal | None, video_id: int) -> VideoRow:
        video = await self._load(_valid_id(video_id))
        if video is None or not can_see(video, viewer):
            raise _not_found()
        return video

    async def _owned(self, principal: Principal, video_id: int) -> VideoRow:
        video = await self._visible(principal, video_id)  # visibility before ownership
        if video.user_id != principal.user_id:
            raise Forbidden("only the owner may change this video")
        return video

    async def _read(self, video_ids: list[int]) -> Mapping[int, Snapshot] | None:
        try:
            return await self._store.read(video_ids)
        except StoreUnavailable:
            return None

    async def _with_engagement(self, videos: list[VideoRow]) -> tuple[list[VideoView], bool]:
        snapshots = await self._read([video.id for video in videos]) if videos else {}
        return await self._merge(videos, snapshots), snapshots is None

    async def _merge(
        self, videos: list[VideoRow], snapshots: Mapping[int, Snapshot] | None, *, rows_are_fresh: bool = True
    ) -> list[VideoView]:
        """Rows and Redis snapshots into videos with engagement. A row from this worker's cache may
        hold old counters: when Redis has none to offer, the counters are read again from PostgreSQL."""
        if snapshots is None:
            return [VideoView(video, None) for video in videos]
        if not rows_are_fresh:
            videos = await self._fresh_counters(videos, snapshots)
        views, stale = [], []
        for video in videos:
            snapshot = snapshots[video.id]
            cached = snapshot.counters
            if cached is not None and cached.version >= video.counters_version:
                likes, comments = cached.likes, cached.comments
            else:  # missing from Redis, an older epoch, or older than the row: the row is right
                likes, comments = video.like_count, video.comment_count
                stale.append((video.id, Counters(likes, comments, video.counters_version)))
            view_count = video.view_count + snapshot.views.beyond(video.view_flush_seq)
            views.append(VideoView(video, Engagement(view_count, likes, comments, snapshot.live_viewers)))
        if stale:
            with contextlib.suppress(StoreUnavailable):
                await self._store.cache_counters(stale)
        return views

    async def _fresh_counters(
        self, videos: list[VideoRow], snapshots: Mapping[int, Snapshot]
    ) -> list[VideoRow]:
        fresh = []
        for video in videos:
            if snapshots[video.id].counters is None:  # e.g. Redis restarted empty, or a new epoch
                counters = await self._engagement.counters(video.id)
                if counters is not None:
                    video = dataclasses.replace(
                        video,
                        like_count=counters.like_count,
                        comment_count=counters.comment_count,
                        counters_version=counters.counters_version,
                    )
            fresh.append(video)
        return fresh

    async def _cache_counters(self, video_id: int, counters: CounterRow) -> None:
        # PostgreSQL has the change; a failed cache write starts a new epoch when Redis is back.
        with contextlib.suppress(StoreUnavailable):
            await self._store.cache_counters(
                [(video_id, Counters(counters.like_count, counters.comment_count, counters.counters_version))]
            )

    def _decode(self, cursor: str, scope: list[Any]) -> list[Any]:
        try:
            return self._cursors.decode(cursor, scope)
        except InvalidCursor as exc:
            raise BadInput("invalid cursor", [FieldIssue("cursor", str(exc))]) from None

    def _decode_position(self, cursor: str, scope: list[Any], sort: Sort) -> tuple[Any, int]:
        position = self._decode(cursor, scope)
        try:
            key, last_id = position
            if sort.endswith("created_at"):
                key = datetime.fromisoformat(key)
            elif sort.endswith("view_count"):
                key = int(key)
            elif not isinstance(key, str):
                raise TypeError(key)
            return key, int(last_id)
        except (TypeError, ValueError):
            raise _bad_cursor() from None


def _bad_cursor() -> BadInput:
    return BadInput("invalid cursor", [FieldIssue("cursor", "cursor is not valid")])


def _valid_id(video_id: int) -> int:
    if not 0 < video_id <= MAX_ID:
        raise _not_found()
    return video_id


def _viewer_key(viewer: Principal | None, viewer_id: str | None) -> str:
    """The user when authenticated (viewer_id ignored), else the client-chosen viewer id."""
    if viewer is not None:
        return f"u:{viewer.user_id}"
    if viewer_id is None or not VIEWER_ID.fullmatch(viewer_id):
        issue = "is required when anonymous" if viewer_id is None else "must be 8-64 of A-Z a-z 0-9 _ -"
        raise ValidationFailed(
            "viewer_id is required for anonymous viewers", [FieldIssue("viewer_id", issue)]
        )
    return f"a:{viewer_id}"
