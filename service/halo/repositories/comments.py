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
from typing import Any, Literal

import asyncpg
from tortoise.exceptions import IntegrityError

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


_INSERT = (
    "INSERT INTO comments (video_id, user_id, parent_id, body, status, reply_count, created_at) "  # noqa: S608
    f"VALUES ($1, $2, $3, $4, $5, 0, $6) RETURNING {COMMENT_COLUMNS}"
)


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


def _counters(raw: dict[str, Any]) -> CounterRow:
    return CounterRow(int(raw["like_count"]), int(raw["comment_count"]), int(raw["counters_version"]))


class CommentRepository:
    def __init__(self, sql: Sql | None = None) -> None:
        self._sql = sql or Sql()

    @staticmethod
    def _locked(tx: Sql, sql: str) -> str:
        return sql + " FOR UPDATE" if tx.is_postgres else sql  # SQLite: one writer at a time anyway

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
        raw = await tx.fetchrow(
            "SELECT like_count, comment_count, counters_version FROM videos WHERE id = $1", video_id
        )
        if raw is None:
            raise VideoMissing(video_id)
        return _counters(raw)

    @translate_errors
    async def get(self, comment_id: int) -> CommentRow | None:
        raw = await self._sql.fetchrow(f"SELECT {COMMENT_COLUMNS} FROM comments WHERE id = $1", comment_id)  # noqa: S608
        return _comment(raw) if raw else None

    @translate_errors
    async def add(
        self, video_id: int, user_id: int, body: str, *, parent_id: int | None, status: Status
    ) -> tuple[CommentRow, CounterRow]:
        """A new comment; a published one is counted (and counted as a reply of its parent)."""
        now = datetime.now(UTC)
        try:
            async with self._sql.transaction() as tx:
                if parent_id is not None:
                    parent = await tx.fetchrow(
                        self._locked(tx, "SELECT video_id, parent_id, status FROM comments WHERE id = $1"),
                        parent_id,
                    )
                    if (
                        parent is None
                        or int(parent["video_id"]) != video_id
                        or parent["parent_id"] is not None
                        or parent["status"] != "published"
                    ):
                        raise ParentRefused(parent_id)
                raw = await tx.fetchrow(
                    _INSERT,
                    video_id,
                    user_id,
                    parent_id,
                    body,
                    status,
                    tx.timestamp(now),
                )
                assert raw is not None
                if status != "published":
                    return _comment(raw), await self._counters_now(tx, video_id)
                if parent_id is not None:
                    await tx.execute(
                        "UPDATE comments SET reply_count = reply_count + 1 WHERE id = $1", parent_id
                    )
                return _comment(raw), await self._count(tx, video_id, 1)
        except (asyncpg.ForeignKeyViolationError, IntegrityError) as exc:
            if "parent" in str(exc).lower():
                raise ParentRefused(parent_id) from exc
            raise VideoMissing(video_id) from exc

    @translate_errors
    async def edit(self, comment_id: int, body: str) -> CommentRow | None:
        raw = await self._sql.fetchrow(
            f"UPDATE comments SET body = $2, edited_at = $3 WHERE id = $1 RETURNING {COMMENT_COLUMNS}",  # noqa: S608
            comment_id,
            body,
            self._sql.timestamp(datetime.now(UTC)),
        )
        return _comment(raw) if raw else None

    @translate_errors
    async def approve(self, comment_id: int) -> tuple[CommentRow, CounterRow | None] | None:
        """Publish a held comment and count it; a published one is returned unchanged (counters
        None). None when the comment is gone, or its parent went while it was held."""
        async with self._sql.transaction() as tx:
            found = await tx.fetchrow("SELECT parent_id FROM comments WHERE id = $1", comment_id)
            if found is None:
                return None
            parent_id = found["parent_id"]
            if parent_id is not None:  # lock order: parent, reply, video
                await tx.fetchrow(self._locked(tx, "SELECT id FROM comments WHERE id = $1"), parent_id)
            raw = await tx.fetchrow(
                self._locked(tx, f"SELECT {COMMENT_COLUMNS} FROM comments WHERE id = $1"),  # noqa: S608
                comment_id,
            )
            if raw is None:
                return None
            if raw["status"] == "published":
                return _comment(raw), None
            raw = await tx.fetchrow(
                f"UPDATE comments SET status = 'published' WHERE id = $1 RETURNING {COMMENT_COLUMNS}",  # noqa: S608
                comment_id,
            )
            assert raw is not None
            if parent_id is not None:
                await tx.execute("UPDATE comments SET reply_count = reply_count + 1 WHERE id = $1", parent_id)
            return _comment(raw), await self._count(tx, int(raw["video_id"]), 1)

    @translate_errors
    async def delete(self, comment_id: int) -> tuple[CommentRow, CounterRow | None] | None:
        """Delete a comment (a top-level one with its replies) and uncount every published one
        that went; counters None when nothing counted went. None when it was already gone."""
        async with self._sql.transaction() as tx:
            found = await tx.fetchrow("SELECT parent_id FROM comments WHERE id = $1", comment_id)
            if found is None:
                return None
            parent_id = found["parent_id"]
            if parent_id is not None:
                await tx.fetchrow(self._locked(tx, "SELECT id FROM comments WHERE id = $1"), parent_id)
            raw = await tx.fetchrow(
                self._locked(tx, f"SELECT {COMMENT_COLUMNS} FROM comments WHERE id = $1"),  # noqa: S608
                comment_id,
            )
            if raw is None:
                return None
            comment = _comment(raw)
            gone = 1 if comment.status == "published" else 0
            if parent_id is None:
                replies = await tx.fetchrow(
                    "SELECT count(*) AS n FROM comments WHERE parent_id = $1 AND status = 'published'",
                    comment_id,
                )
                gone += int(replies["n"]) if replies else 0
                await tx.execute("DELETE FROM comments WHERE parent_id = $1", comment_id)
            await tx.execute("DELETE FROM comments WHERE id = $1", comment_id)
            if parent_id is not None and comment.status == "published":
                await tx.execute(
                    "UPDATE comments SET reply_count = CASE WHEN reply_count > 0 THEN reply_count - 1 "
                    "ELSE 0 END WHERE id = $1",
                    parent_id,
                )
            if not gone:
                return comment, None
            return comment, await self._count(tx, comment.video_id, -gone)

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
        rows = await self._sql.fetch(
            f"SELECT {COMMENT_COLUMNS} FROM comments "  # noqa: S608
            f"WHERE video_id = $1 AND parent_id IS NULL AND status = $2 {seek} "
            "ORDER BY created_at DESC, id DESC LIMIT $3",
            *args,
        )
        return [_comment(raw) for raw in rows]

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
        rows = await self._sql.fetch(
            f"SELECT {COMMENT_COLUMNS} FROM comments "  # noqa: S608
            f"WHERE parent_id = $1 AND status = 'published' {seek} "
            "ORDER BY created_at ASC, id ASC LIMIT $2",
            *args,
        )
        return [_comment(raw) for raw in rows]
