"""Bulk loading for `halo seed`: COPY on PostgreSQL, executemany on SQLite.

Ids are reserved from the tables' own sequences first, so rows can refer to
each other and a seed never collides with rows written meanwhile.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from halo.repositories.base import translate_errors
from halo.repositories.sql import Sql

USER_COLUMNS = (
    "id",
    "email",
    "username",
    "password_hash",
    "display_name",
    "bio",
    "avatar_url",
    "is_adult",
    "adult_mode",
    "created_at",
    "updated_at",
)
VIDEO_COLUMNS = (
    "id",
    "user_id",
    "title",
    "description",
    "thumbnail_url",
    "stream_url",
    "is_live",
    "is_adult_content",
    "view_count",
    "view_flush_seq",
    "like_count",
    "comment_count",
    "counters_version",
    "created_at",
    "updated_at",
)
LIKE_COLUMNS = ("video_id", "user_id", "created_at")
COMMENT_COLUMNS = ("video_id", "user_id", "body", "created_at")


class BulkLoader:
    def __init__(self, sql: Sql | None = None) -> None:
        self._sql = sql or Sql()

    # raw SQL: ids from the tables' sequences, which the ORM does not reach
    @translate_errors
    async def reserve_ids(self, table: str, count: int) -> list[int]:
        if count <= 0:
            return []
        return await self._sql.reserve_ids(table, count)

    # raw SQL: a bulk load (COPY on PostgreSQL), not one INSERT a row
    @translate_errors
    async def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            await self._sql.load(table, columns, rows)

    # raw SQL: ANALYZE is no query the ORM has
    @translate_errors
    async def analyze(self) -> None:
        """Fresh planner statistics, so the first queries after a big seed use the indexes
        (PostgreSQL and SQLite alike)."""
        await self._sql.execute("ANALYZE")
