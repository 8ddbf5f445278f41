"""Engagement: views, likes, comments and presence, and the merging of a video's durable counters
(PostgreSQL) with its real-time ones (Redis) into the counts a client sees."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from halo.concurrency import ReadCoalescer
from halo.engagement.store import Counters, EngagementStore, LikeState, Snapshot, VideoGone
from halo.redis.link import StoreUnavailable
from halo.repositories.engagement import CounterRow, EngagementRepository, LikeRow, VideoMissing
from halo.repositories.videos import VideoRow
from halo.services.auth import Principal
from halo.services.errors import FieldIssue, Unavailable, ValidationFailed
from halo.services.visibility import not_found
from halo.values import value

if TYPE_CHECKING:
    from halo.services.videos import VideoService

VIEWER_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")


@value
class Engagement:
    view_count: int
    like_count: int
    comment_count: int
    live_viewers: int


@value
class VideoView:
    video: VideoRow
    engagement: Engagement | None  # None: Redis unreachable, served degraded
    liked: bool | None = None  # the caller's own like; None for an anonymous caller

    def seen_by(self, liked: bool | None) -> VideoView:
        return dataclasses.replace(self, liked=liked)


class CounterMerge:
    """Rows and Redis snapshots into videos with engagement."""

    def __init__(self, store: EngagementStore, engagement: EngagementRepository) -> None:
        self._store = store
        self._engagement = engagement
        # the like states missing from the cache, asked for in the same turn of the loop: one query
        self._likes: ReadCoalescer[tuple[int, int], LikeRow | None] = ReadCoalescer(self._read_likes)

    async def read(self, video_ids: list[int], liked_by: int | None = None) -> Mapping[int, Snapshot] | None:
        """Redis's side of these videos (with `liked_by`'s cached likes); None while Redis is unreachable."""
        try:
            return await self._store.read(video_ids, liked_by)
        except StoreUnavailable:
            return None

    async def with_engagement(
        self, videos: list[VideoRow], viewer: Principal | None = None
    ) -> tuple[list[VideoView], bool]:
        """Videos with their engagement and, for an authenticated viewer, its own likes: one
        batched Redis read (counters and cached likes together) and, for likes not cached,
        one batched PostgreSQL read, run beside the merge (which may write counters back)."""
        if not videos:
            return [], False
        ids = [video.id for video in videos]
        if viewer is None:
            snapshots = await self.read(ids)
            return await self.merge(videos, snapshots), snapshots is None
        snapshots = await self.read(ids, viewer.user_id)
        views, known = await asyncio.gather(
            self.merge(videos, snapshots), self._likes_of(viewer, ids, snapshots)
        )
        return [view.seen_by(known.get(view.video.id, False)) for view in views], snapshots is None

    async def with_likes(
        self, viewer: Principal, views: list[VideoView], snapshots: Mapping[int, Snapshot] | None
    ) -> list[VideoView]:
        """The views with the viewer's own likes (`snapshots`: what Redis answered, or None)."""
        known = await self._likes_of(viewer, [view.video.id for view in views], snapshots)
        return [view.seen_by(known.get(view.video.id, False)) for view in views]

    async def _likes_of(
        self, viewer: Principal, video_ids: list[int], snapshots: Mapping[int, Snapshot] | None
    ) -> dict[int, bool]:
        """The viewer's likes of these videos: from the snapshots where Redis had them, the rest
        from PostgreSQL (where a like commits first), then cached for the next read."""
        known = {} if snapshots is None else {i: s.liked for i, s in snapshots.items() if s.liked is not None}
        missing = [video_id for video_id in video_ids if video_id not in known]
        if missing:
            known.update(await self._liked_from_database(viewer, missing, cache=snapshots is not None))
        return known

    async def _liked_from_database(
        self, viewer: Principal, video_ids: list[int], *, cache: bool
    ) -> dict[int, bool]:
        """The viewer's likes of these videos from PostgreSQL (reads of requests arriving together
        share one query); with `cache` (Redis answered the read), each cached in Redis with the
        version it is true at."""
        keys = [(viewer.user_id, video_id) for video_id in video_ids]
        found = await self._likes.read(keys)
        rows = [row for key in keys if (row := found[key]) is not None]
        if cache and rows:
            with contextlib.suppress(StoreUnavailable):
                await self._store.cache_likes(
                    [LikeState(row.video_id, row.user_id, row.liked, row.counters_version) for row in rows]
                )
        return {row.video_id: row.liked for row in rows}

    async def cache_like(self, video_id: int, user_id: int, liked: bool, counters: CounterRow) -> None:
        # PostgreSQL has the change; a failed cache write starts a new epoch when Redis is back.
        with contextlib.suppress(StoreUnavailable):
            await self._store.cache_likes([LikeState(video_id, user_id, liked, counters.counters_version)])

    async def _read_likes(self, keys: list[tuple[int, int]]) -> dict[tuple[int, int], LikeRow | None]:
        rows = {(row.user_id, row.video_id): row for row in await self._engagement.like_states(keys)}
        return {key: rows.get(key) for key in keys}

    async def merge(
        self, videos: list[VideoRow], snapshots: Mapping[int, Snapshot] | None, *, rows_are_fresh: bool = True
    ) -> list[VideoView]:
        """A row from this worker's cache may hold old counters: when Redis has none to offer,
        the counters are read again from PostgreSQL."""
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

    async def cache_counters(self, video_id: int, counters: CounterRow) -> None:
        # PostgreSQL has the change; a failed cache write starts a new epoch when Redis is back.
        with contextlib.suppress(StoreUnavailable):
            await self._store.cache_counters(
                [(video_id, Counters(counters.like_count, counters.comment_count, counters.counters_version))]
            )

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


class EngagementService:
    """What viewers do to a video they can see: view, like, be present (comments: CommentService)."""

    def __init__(
        self,
        *,
        videos: VideoService,
        engagement: EngagementRepository,
        store: EngagementStore,
        counters: CounterMerge,
        presence_ttl_seconds: int,
        view_window_seconds: int = 1800,
    ) -> None:
        self._view_window = view_window_seconds
        self._videos = videos
        self._engagement = engagement
        self._store = store
        self._counters = counters
        self._presence_ttl = presence_ttl_seconds

    async def count_view(
        self, viewer: Principal | None, video_id: int, *, viewer_id: object, client_ip: str | None
    ) -> tuple[int, bool]:
        """Count a view once per viewer and video per view window: the viewer is the user, else
        the client-chosen `viewer_id` (422 when malformed), else the client IP. Returns the
        video's view count and whether this view counted."""
        video = await self._videos.visible(viewer, video_id)
        key: str | None
        if viewer is not None:
            key = f"u:{viewer.user_id}"
        elif viewer_id is not None:  # anything but a well-formed id is a 422
            key = viewer_key(None, viewer_id if isinstance(viewer_id, str) else "")
        else:
            key = f"ip:{client_ip}" if client_ip else None
        try:
            tally = await self._store.add_view(video_id, key, self._view_window)
        except VideoGone:
            raise not_found() from None
        except StoreUnavailable:
            raise Unavailable("view counting is temporarily unavailable") from None
        return video.view_count + tally.beyond(video.view_flush_seq), tally.counted

    async def like(self, principal: Principal, video_id: int) -> int:
        return await self._toggle_like(principal, video_id, like=True)

    async def unlike(self, principal: Principal, video_id: int) -> int:
        return await self._toggle_like(principal, video_id, like=False)

    async def _toggle_like(self, principal: Principal, video_id: int, *, like: bool) -> int:
        await self._videos.visible(principal, video_id)
        toggle = self._engagement.like if like else self._engagement.unlike
        try:
            changed, counters = await toggle(video_id, principal.user_id)
        except VideoMissing:
            raise not_found() from None
        if changed:
            await self._counters.cache_counters(video_id, counters)
        await self._counters.cache_like(video_id, principal.user_id, like, counters)
        return counters.like_count

    async def heartbeat(self, viewer: Principal | None, video_id: int, viewer_id: str | None) -> int:
        await self._videos.visible(viewer, video_id)
        key = viewer_key(viewer, viewer_id)
        try:
            return await self._store.heartbeat(video_id, key, self._presence_ttl)
        except VideoGone:
            raise not_found() from None
        except StoreUnavailable:
            raise Unavailable("presence is temporarily unavailable") from None

    async def leave(self, viewer: Principal | None, video_id: int, viewer_id: str | None) -> int:
        await self._videos.visible(viewer, video_id)
        key = viewer_key(viewer, viewer_id)
        try:
            return await self._store.leave(video_id, key)
        except VideoGone:
            raise not_found() from None
        except StoreUnavailable:
            raise Unavailable("presence is temporarily unavailable") from None


def viewer_key(viewer: Principal | None, viewer_id: object) -> str:
    """Who counts as one live viewer: the user when authenticated (`viewer_id` ignored), else the
    client-chosen viewer id (422 when missing or malformed)."""
    if viewer is not None:
        return f"u:{viewer.user_id}"
    if not isinstance(viewer_id, str) or not VIEWER_ID.fullmatch(viewer_id):
        issue = "is required when anonymous" if viewer_id is None else "must be 8-64 of A-Z a-z 0-9 _ -"
        raise ValidationFailed(
            "viewer_id is required for anonymous viewers", [FieldIssue("viewer_id", issue)]
        )
    return f"a:{viewer_id}"
