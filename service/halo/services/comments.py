"""Comments: threads one level deep, moderation by the video's owner, and `comment_count` kept
right after every change (the durable counters move with the comment; Redis gets the new copy).

Who sees what: a comment of a video the caller may not see is a 404, as is a held comment to
anyone but the video's owner and the comment's author.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Literal

from halo.repositories.comments import CommentRepository, CommentRow, ParentRefused, Status
from halo.repositories.engagement import CounterRow, VideoMissing
from halo.repositories.videos import VideoRow
from halo.security.cursors import CursorCodec
from halo.services.auth import Principal
from halo.services.engagement import CounterMerge
from halo.services.errors import FieldIssue, Forbidden, NotFound, ValidationFailed
from halo.services.pages import Page, bad_cursor, decode_cursor
from halo.services.videos import VideoService
from halo.services.visibility import MAX_ID, not_found

Moderation = Literal["held", "approved"]


def comment_not_found() -> NotFound:
    return NotFound("no such comment")


class CommentService:
    def __init__(
        self,
        *,
        videos: VideoService,
        comments: CommentRepository,
        counters: CounterMerge,
        cursors: CursorCodec,
    ) -> None:
        self._videos = videos
        self._comments = comments
        self._counters = counters
        self._cursors = cursors
        self.on_moderation: list[Callable[[Moderation], None]] = []  # metrics

    # --- reading -----------------------------------------------------------------

    async def page(
        self, viewer: Principal | None, video_id: int, *, status: Status, limit: int, cursor: str | None
    ) -> Page[CommentRow]:
        """Top-level comments, newest first: the published ones, or the held queue (owner only)."""
        video = await self._videos.visible(viewer, video_id)
        if status == "held" and (viewer is None or viewer.user_id != video.user_id):
            raise Forbidden("only the video's owner may see its held comments")
        scope: list[object] = ["comments", video_id]
        if status == "held":
            scope.append(status)
        after = self._position(cursor, scope)
        rows = await self._comments.top_level_page(video_id, status, after=after, limit=limit + 1)
        return self._page(rows, limit, scope)

    async def replies(
        self, viewer: Principal | None, comment_id: int, *, limit: int, cursor: str | None
    ) -> Page[CommentRow]:
        """A comment's published replies, oldest first."""
        comment, _ = await self._visible(viewer, comment_id)
        scope: list[object] = ["replies", comment.id]
        after = self._position(cursor, scope)
        if comment.parent_id is not None:  # a reply has no replies
            return Page([], None)
        rows = await self._comments.replies_page(comment.id, after=after, limit=limit + 1)
        return self._page(rows, limit, scope)

    # --- writing -------------------------------------------------------------------

    async def add(
        self, principal: Principal, video_id: int, body: str, *, parent_id: int | None = None
    ) -> CommentRow:
        video = await self._videos.visible(principal, video_id)
        if video.comments_policy == "closed":
            raise Forbidden("comments on this video are closed")
        owner = video.user_id == principal.user_id
        status: Status = "held" if video.comments_policy == "approval" and not owner else "published"
        if parent_id is not None and not 0 < parent_id <= MAX_ID:
            raise _bad_parent()
        try:
            comment, counters = await self._comments.add(
                video_id, principal.user_id, body, parent_id=parent_id, status=status
            )
        except VideoMissing:
            raise not_found() from None
        except ParentRefused:
            raise _bad_parent() from None
        if status == "held":
            self._moderated("held")
        else:
            await self._counters.cache_counters(video_id, counters)
        return comment

    async def edit(self, principal: Principal, comment_id: int, body: str) -> CommentRow:
        comment, _ = await self._visible(principal, comment_id)
        if comment.user_id != principal.user_id:
            raise Forbidden("only the comment's author may edit it")
        edited = await self._comments.edit(comment.id, body)
        if edited is None:
            raise comment_not_found()
        return edited

    async def delete(self, principal: Principal, comment_id: int) -> None:
        comment, video = await self._visible(principal, comment_id)
        if principal.user_id not in (comment.user_id, video.user_id):
            raise Forbidden("only the comment's author or the video's owner may delete it")
        result = await self._comments.delete(comment.id)
        if result is None:
            raise comment_not_found()
        await self._recount(comment.video_id, result[1])

    async def approve(self, principal: Principal, comment_id: int) -> CommentRow:
        comment, video = await self._visible(principal, comment_id)
        if principal.user_id != video.user_id:
            raise Forbidden("only the video's owner may approve its comments")
        result = await self._comments.approve(comment.id)
        if result is None:
            raise comment_not_found()
        approved, counters = result
        if counters is not None:
            self._moderated("approved")
            await self._counters.cache_counters(approved.video_id, counters)
        return approved

    # --- helpers -----------------------------------------------------------------

    async def _visible(self, viewer: Principal | None, comment_id: int) -> tuple[CommentRow, VideoRow]:
        if not 0 < comment_id <= MAX_ID:
            raise comment_not_found()
        comment = await self._comments.get(comment_id)
        if comment is None:
            raise comment_not_found()
        try:
            video = await self._videos.visible(viewer, comment.video_id)
        except NotFound:
            raise comment_not_found() from None
        insiders = (comment.user_id, video.user_id)
        if comment.status == "held" and (viewer is None or viewer.user_id not in insiders):
            raise comment_not_found()
        return comment, video

    async def _recount(self, video_id: int, counters: CounterRow | None) -> None:
        if counters is not None:
            await self._counters.cache_counters(video_id, counters)

    def _moderated(self, event: Moderation) -> None:
        for listener in self.on_moderation:
            listener(event)

    def _position(self, cursor: str | None, scope: list[object]) -> tuple[datetime, int] | None:
        if not cursor:
            return None
        position = decode_cursor(self._cursors, cursor, scope)
        try:
            return datetime.fromisoformat(position[0]), int(position[1])
        except (TypeError, ValueError, IndexError):
            raise bad_cursor() from None

    def _page(self, rows: list[CommentRow], limit: int, scope: list[object]) -> Page[CommentRow]:
        next_cursor = None
        if len(rows) > limit:
            rows = rows[:limit]
            next_cursor = self._cursors.encode(scope, [rows[-1].created_at.isoformat(), rows[-1].id])
        return Page(rows, next_cursor)


def _bad_parent() -> ValidationFailed:
    return ValidationFailed(
        "parent_id must be a published top-level comment of this video",
        [FieldIssue("parent_id", "must be a published top-level comment of this video")],
    )
