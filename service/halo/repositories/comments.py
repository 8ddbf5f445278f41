"""Comments: threads one level deep, held comments awaiting approval, and the counters they move.

A comment's change and the counters it moves (the video's `comment_count`,
the parent's `reply_count`) happen in one transaction that also bumps the
video's `counters_version`, as likes do. Only published comments are counted.
Rows are locked parent first, then the reply, then the video row, on every
path, so concurrent replies, approvals and deletes of one thread serialise
without deadlocks and the counts stay exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, cast

import asyncpg
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F

from halo.db.models import Comment, Video
from halo.db.replicas import writes
from halo.repositories.base import translate_errors
from halo.repositories.engagement import CounterRow, VideoMissing
from halo.repositories.sql import Sql, to_datetime

Status = Literal["published", "held"]

COMMENT_COLUMNS = "id, video_id, user_id, parent_id, body, status, reply_count, created_at, edited_at"


@dataclass(frozen=True, slots=True)
class CommentRow:
    id: int
    video_id: int
    user_id: int
    parent_id: int | None
    body: str
    status: str
    reply_count: int
    created_at: datetime
    edited_at: datetime | None


class ParentRefused(Exception):
    """The parent is missing, held, a reply itself, or on another video."""


def _comment(raw: dict[str, Any]) -> CommentRow:
    edited = raw["edited_at"]
    return CommentRow(
        int(raw["id"]),
        int(raw["video_id"]),
        int(raw["user_id"]),
        int(raw["parent_id"]) if raw["parent_id"] is not None else None,
        raw["body"],
        raw["status"],
        int(raw["reply_count"]),
        to_datetime(raw["created_at"]),
        to_datetime(edited) if edited is not None else None,
    )


def _row(comment: Comment) -> CommentRow:
    return CommentRow(
        comment.id,
        comment.video_id,
        comment.user_id,
        comment.parent_id,
        comment.body,
        comment.status,
        comment.reply_count,
        comment.created_at,
        comment.edited_at,
    )


def _counters(raw: dict[str, Any]) -> CounterRow:
    return CounterRow(int(raw["like_count"]), int(raw["comment_count"]), int(raw["counters_version"]))


class CommentRepository:
    def __init__(self, sql: Sql | None = None) -> None:
        self._sql = sql or Sql()

    @staticmethod
    async def _locked(tx: Sql, comment_id: int) -> Comment | None:
        """The comment, its row locked until the transaction ends (SQLite: one writer at a time
        anyway, so Tortoise leaves FOR UPDATE out there)."""
        return await Comment.filter(id=comment_id).using_db(tx.client).select_for_update().first()

    @staticmethod
    async def _parent_of(tx: Sql, comment_id: int) -> tuple[bool, int | None]:
        """Whether the comment exists, and its parent's id (read without a lock)."""
        found = await Comment.filter(id=comment_id).using_db(tx.client).values_list("parent_id", flat=True)
        return (True, cast(int | None, found[0])) if found else (False, None)

    @staticmethod
    async def _replied(tx: Sql, parent_id: int, delta: int) -> None:
        """Move a comment's reply count by one, in the row (never below zero)."""
        query = Comment.filter(id=parent_id).using_db(tx.client)
        if delta < 0:
            query = query.filter(reply_count__gt=0)
        await query.update(reply_count=F("reply_count") + delta)

    # raw SQL: the count moved and read back in one statement (UPDATE ... RETURNING, clamped at zero)
    async def _count(self, tx: Sql, video_id: int, delta: int) -> CounterRow:
        """Move the video's published-comment count (never below zero), bumping its version."""
        raw = await tx.fetchrow(
            "UPDATE videos SET comment_count = CASE WHEN comment_count + $2 < 0 THEN 0 "
            "ELSE comment_count + $2 END, counters_version = counters_version + 1 "
            "WHERE id = $1 RETURNING like_count, comment_count, counters_version",
            video_id,
            delta,
        )
        if raw is None:
            raise VideoMissing(video_id)
        return _counters(raw)

    async def _counters_now(self, tx: Sql, video_id: int) -> CounterRow:
        rows = await (
            Video.filter(id=video_id)
            .using_db(tx.client)
            .values("like_count", "comment_count", "counters_version")
        )
        if not rows:
            raise VideoMissing(video_id)
        return _counters(rows[0])

    @translate_errors
    async def get(self, comment_id: int) -> CommentRow | None:
        raw = await self._sql.reader().fetchrow(
            f"SELECT {COMMENT_COLUMNS} FROM comments WHERE id = $1",  # noqa: S608
            comment_id,
        )
        return _comment(raw) if raw else None

    @translate_errors
    @writes
    async def add(
        self, video_id: int, user_id: int, body: str, *, parent_id: int | None, status: Status
    ) -> tuple[CommentRow, CounterRow]:
        """A new comment; a published one is counted (and counted as a reply of its parent)."""
        now = datetime.now(UTC)
        try:
            async with self._sql.transaction() as tx:
                if parent_id is not None:
                    parent = await self._locked(tx, parent_id)
                    if (
                        parent is None
                        or parent.video_id != video_id
                        or parent.parent_id is not None
                        or parent.status != "published"
                    ):
                        raise ParentRefused(parent_id)
                comment = await Comment.create(
                    video_id=video_id,
                    user_id=user_id,
                    parent_id=parent_id,
                    body=body,
                    status=status,
                    reply_count=0,
                    created_at=now,
                    using_db=tx.client,
                )
                if status != "published":
                    return _row(comment), await self._counters_now(tx, video_id)
                if parent_id is not None:
                    await self._replied(tx, parent_id, 1)
                return _row(comment), await self._count(tx, video_id, 1)
        except (asyncpg.ForeignKeyViolationError, IntegrityError) as exc:
            if "parent" in str(exc).lower():
                raise ParentRefused(parent_id) from exc
            raise VideoMissing(video_id) from exc

    @translate_errors
    @writes
    async def edit(self, comment_id: int, body: str) -> CommentRow | None:
        async with self._sql.transaction() as tx:  # the row read back as this edit left it
            query = Comment.filter(id=comment_id).using_db(tx.client)
            if not await query.update(body=body, edited_at=datetime.now(UTC)):
                return None
            comment = await query.first()
        return _row(comment) if comment is not None else None

    @translate_errors
    @writes
    async def approve(self, comment_id: int) -> tuple[CommentRow, CounterRow | None] | None:
        """Publish a held comment and count it; a published one is returned unchanged (counters
        None). None when the comment is gone, or its parent went while it was held."""
        async with self._sql.transaction() as tx:
            found, parent_id = await self._parent_of(tx, comment_id)
            if not found:
                return None
            if parent_id is not None:  # lock order: parent, reply, video
                await self._locked(tx, parent_id)
            comment = await self._locked(tx, comment_id)
            if comment is None:
                return None
            if comment.status == "published":
                return _row(comment), None
            await Comment.filter(id=comment_id).using_db(tx.client).update(status="published")
            comment.status = "published"  # the row is locked: nothing else of it changed
            if parent_id is not None:
                await self._replied(tx, parent_id, 1)
            return _row(comment), await self._count(tx, comment.video_id, 1)

    @translate_errors
    @writes
    async def delete(self, comment_id: int) -> tuple[CommentRow, CounterRow | None] | None:
        """Delete a comment (a top-level one with its replies) and uncount every published one
        that went; counters None when nothing counted went. None when it was already gone."""
        async with self._sql.transaction() as tx:
            found, parent_id = await self._parent_of(tx, comment_id)
            if not found:
                return None
            if parent_id is not None:  # lock order: parent, reply, video
                await self._locked(tx, parent_id)
            locked = await self._locked(tx, comment_id)
            if locked is None:
                return None
            comment = _row(locked)
            gone = 1 if comment.status == "published" else 0
            if parent_id is None:
                replies = Comment.filter(parent_id=comment_id).using_db(tx.client)
                gone += await replies.filter(status="published").count()
                await replies.delete()
            await Comment.filter(id=comment_id).using_db(tx.client).delete()
            if parent_id is not None and comment.status == "published":
                await self._replied(tx, parent_id, -1)
            if not gone:
                return comment, None
            return comment, await self._count(tx, comment.video_id, -gone)

    # raw SQL: a keyset page, a row-value comparison on (created_at, id) walking one index
    @translate_errors
    async def top_level_page(
        self, video_id: int, status: Status, *, after: tuple[datetime, int] | None, limit: int
    ) -> list[CommentRow]:
        """A video's top-level comments of one status, newest first, keyset on (created_at, id)."""
        args: list[Any] = [video_id, status, limit]
        seek = ""
        if after is not None:
            args += [self._sql.timestamp(after[0]), after[1]]
            seek = "AND (created_at, id) < ($4, $5)"
        rows = await self._sql.reader().fetch(
            f"SELECT {COMMENT_COLUMNS} FROM comments "  # noqa: S608
            f"WHERE video_id = $1 AND parent_id IS NULL AND status = $2 {seek} "
            "ORDER BY created_at DESC, id DESC LIMIT $3",
            *args,
        )
        return [_comment(raw) for raw in rows]

    # raw SQL: a keyset page, a row-value comparison on (created_at, id) walking one index
    @translate_errors
    async def replies_page(
        self, parent_id: int, *, after: tuple[datetime, int] | None, limit: int
    ) -> list[CommentRow]:
        """A comment's published replies, oldest first, keyset on (created_at, id)."""
        args: list[Any] = [parent_id, limit]
        seek = ""
        if after is not None:
            args += [self._sql.timestamp(after[0]), after[1]]
            seek = "AND (created_at, id) > ($3, $4)"
        rows = await self._sql.reader().fetch(
            f"SELECT {COMMENT_COLUMNS} FROM comments "  # noqa: S608
            f"WHERE parent_id = $1 AND status = 'published' {seek} "
            "ORDER BY created_at ASC, id ASC LIMIT $2",
            *args,
        )
        return [_comment(raw) for raw in rows]
