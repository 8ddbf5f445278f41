"""Durable engagement: like rows, the counters on the video row, flushed views (comments:
comments.py).

A like or a comment and the counter it moves change in one transaction, and
every change bumps the video's `counters_version`, so the counters read from
here are exact and ordered; Redis only ever caches them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
from tortoise.exceptions import IntegrityError

from halo.db.replicas import writes
from halo.repositories.base import translate_errors
from halo.repositories.sql import Sql, db_datetime

# pg_try_advisory_xact_lock key: one view flush at a time across all replicas ("VIEW").
VIEW_FLUSH_LOCK_KEY = 0x56494557


class VideoMissing(Exception):
    """The video does not exist (any more)."""


@dataclass(frozen=True, slots=True)
class LikeRow:
    video_id: int
    user_id: int
    liked: bool
    counters_version: int


@dataclass(frozen=True, slots=True)
class CounterRow:
    like_count: int
    comment_count: int
    counters_version: int


_LIKE_PG = """
WITH inserted AS (
    INSERT INTO likes (video_id, user_id, created_at) VALUES ($1, $2, $3)
    ON CONFLICT (video_id, user_id) DO NOTHING
    RETURNING video_id
), bumped AS (
    UPDATE videos SET like_count = like_count + 1, counters_version = counters_version + 1
    WHERE id IN (SELECT video_id FROM inserted)
    RETURNING like_count, comment_count, counters_version
)
SELECT like_count, comment_count, counters_version, TRUE AS changed FROM bumped
UNION ALL
SELECT like_count, comment_count, counters_version, FALSE FROM videos
WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM inserted)
"""

# (user, video) pairs -> video id, user id, counters_version, liked: one snapshot for all of them
_LIKE_STATES_PG = """
SELECT v.id, p.user_id, v.counters_version,
       EXISTS (SELECT 1 FROM likes l WHERE l.video_id = v.id AND l.user_id = p.user_id)
FROM unnest($1::bigint[], $2::bigint[]) AS p(user_id, video_id)
JOIN videos v ON v.id = p.video_id
"""

_UNLIKE_PG = """
WITH deleted AS (
    DELETE FROM likes WHERE video_id = $1 AND user_id = $2 RETURNING video_id
), bumped AS (
    UPDATE videos SET like_count = GREATEST(like_count - 1, 0), counters_version = counters_version + 1
    WHERE id IN (SELECT video_id FROM deleted)
    RETURNING like_count, comment_count, counters_version
)
SELECT like_count, comment_count, counters_version, TRUE AS changed FROM bumped
UNION ALL
SELECT like_count, comment_count, counters_version, FALSE FROM videos
WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM deleted)
"""

_COUNTERS = "SELECT like_count, comment_count, counters_version FROM videos WHERE id = $1"


def _counters(raw: dict[str, Any]) -> CounterRow:
    return CounterRow(int(raw["like_count"]), int(raw["comment_count"]), int(raw["counters_version"]))


def _is_missing_video(exc: Exception) -> bool:
    return isinstance(exc, asyncpg.ForeignKeyViolationError) or (
        isinstance(exc, IntegrityError) and "foreign key" in str(exc).lower()
    )


class EngagementRepository:
    def __init__(self, sql: Sql | None = None) -> None:
        self._sql = sql or Sql()
        self._sqlite_flush = asyncio.Lock()

    @translate_errors
    @writes
    async def like(self, video_id: int, user_id: int) -> tuple[bool, CounterRow]:
        """Like once (idempotent). Returns whether this call changed anything, and the counters after it."""
        return await self._toggle(video_id, user_id, like=True)

    @translate_errors
    @writes
    async def unlike(self, video_id: int, user_id: int) -> tuple[bool, CounterRow]:
        return await self._toggle(video_id, user_id, like=False)

    # raw SQL: the like row and the counter it moves in one statement (PostgreSQL) or one transaction
    async def _toggle(self, video_id: int, user_id: int, *, like: bool) -> tuple[bool, CounterRow]:
        now = datetime.now(UTC)
        try:
            if self._sql.is_postgres:  # one statement: the like row and its counter in one round trip
                if like:
                    raw = await self._sql.fetchrow(_LIKE_PG, video_id, user_id, now)
                else:
                    raw = await self._sql.fetchrow(_UNLIKE_PG, video_id, user_id)
            else:
                raw = await self._toggle_sqlite(video_id, user_id, like, now)
        except (asyncpg.ForeignKeyViolationError, IntegrityError) as exc:
            if _is_missing_video(exc):
                raise VideoMissing(video_id) from exc
            raise
        if raw is None:
            raise VideoMissing(video_id)
        return bool(raw["changed"]), _counters(raw)

    async def _toggle_sqlite(
        self, video_id: int, user_id: int, like: bool, now: datetime
    ) -> dict[str, Any] | None:
        async with self._sql.transaction() as tx:
            if like:
                changed = await tx.fetchrow(
                    "INSERT INTO likes (video_id, user_id, created_at) VALUES ($1, $2, $3) "
                    "ON CONFLICT (video_id, user_id) DO NOTHING RETURNING id",
                    video_id,
                    user_id,
                    db_datetime(now, "sqlite"),
                )
                bump = "like_count = like_count + 1"
            else:
                changed = await tx.fetchrow(
                    "DELETE FROM likes WHERE video_id = $1 AND user_id = $2 RETURNING id", video_id, user_id
                )
                bump = "like_count = max(like_count - 1, 0)"
            if changed is not None:
                await tx.execute(
                    f"UPDATE videos SET {bump}, counters_version = counters_version + 1 WHERE id = $1",  # noqa: S608
                    video_id,
                )
            raw = await tx.fetchrow(_COUNTERS, video_id)
        if raw is not None:
            raw["changed"] = changed is not None
        return raw

    @translate_errors
    async def like_states(self, pairs: Sequence[tuple[int, int]]) -> list[LikeRow]:
        """Whether each (user id, video id) pair is a like, with the video's `counters_version`
        read in the same statement (a like and its version bump commit together, so the two
        agree): the version a cached copy is stamped with. Videos that do not exist are left out.
        One query for all the users on PostgreSQL (one per user on SQLite)."""
        if not pairs:
            return []
        if self._sql.is_postgres:  # asyncpg's records as they come: this read is on every authenticated page
            records = await self._sql.fetch_records(
                _LIKE_STATES_PG, [u for u, _ in pairs], [v for _, v in pairs]
            )
            return [LikeRow(record[0], record[1], record[3], record[2]) for record in records]
        by_user: dict[int, list[int]] = {}
        for user, video in pairs:
            by_user.setdefault(user, []).append(video)
        states = []
        for user, videos in by_user.items():
            among, ids = self._sql.any_id("v.id", "$2", videos)
            rows = await self._sql.fetch(
                "SELECT v.id, v.counters_version, EXISTS(SELECT 1 FROM likes l "  # noqa: S608
                f"WHERE l.video_id = v.id AND l.user_id = $1) AS liked FROM videos v WHERE {among}",
                user,
                ids,
            )
            states += [
                LikeRow(int(r["id"]), user, bool(r["liked"]), int(r["counters_version"])) for r in rows
            ]
        return states

    @translate_errors
    async def counters(self, video_id: int) -> CounterRow | None:
        raw = await self._sql.fetchrow(_COUNTERS, video_id)
        return _counters(raw) if raw else None

    # raw SQL: the fleet-wide advisory lock (PostgreSQL), which the ORM has no call for
    @asynccontextmanager
    async def view_flush(self) -> AsyncIterator[ViewFlush | None]:
        """One view flush at a time across every worker and replica: yields None when another
        flusher holds the lock, else a handle whose batches commit together on exit."""
        if not self._sql.is_postgres:  # SQLite has no advisory locks: one process, one lock
            async with self._sqlite_flush, self._sql.transaction() as tx:
                yield ViewFlush(tx, await _applied_seq(tx))
            return
        async with self._sql.transaction() as tx:
            locked = await tx.fetchrow("SELECT pg_try_advisory_xact_lock($1) AS locked", VIEW_FLUSH_LOCK_KEY)
            if not locked or not locked["locked"]:
                yield None
                return
            yield ViewFlush(tx, await _applied_seq(tx))


async def _applied_seq(tx: Sql) -> int:
    raw = await tx.fetchrow("SELECT applied_seq FROM view_flush_state WHERE id = 1")
    return int(raw["applied_seq"]) if raw else 0


class ViewFlush:
    """Applies view batches inside the flush transaction, each at most once per video."""

    def __init__(self, tx: Sql, applied_seq: int) -> None:
        self._tx = tx
        self.applied_seq = applied_seq

    # raw SQL: counters moved in bulk, a whole batch in one statement
    async def apply(self, seq: int, views: dict[int, int]) -> list[tuple[int, int, int]]:
        """Add a batch's views to each video whose `view_flush_seq` is older than `seq`.

        Returns (id, view_count, view_flush_seq) of every row changed."""
        ids: Sequence[int] = list(views)
        batch, ids_value, counts_value = self._tx.pairs(
            "$1", "$2", ids, [views[video_id] for video_id in ids], names=("video_id", "n")
        )
        rows = await self._tx.fetch(
            "UPDATE videos AS v SET view_count = v.view_count + b.n, view_flush_seq = $3 "  # noqa: S608
            f"FROM {batch} AS b WHERE v.id = b.video_id AND v.view_flush_seq < $3 RETURNING id, view_count",
            ids_value,
            counts_value,
            seq,
        )
        if seq > self.applied_seq:
            await self._tx.execute("UPDATE view_flush_state SET applied_seq = $1 WHERE id = 1", seq)
            self.applied_seq = seq
        return [(int(row["id"]), int(row["view_count"]), seq) for row in rows]
