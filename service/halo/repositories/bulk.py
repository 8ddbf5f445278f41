"""Bulk loading for `halo seed`: COPY on PostgreSQL, executemany on SQLite.

Ids are reserved from the tables' own sequences first, so rows can refer to
each other and a seed never collides with rows written meanwhile.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tortoise import connections

from halo.repositories.base import translate_errors
from halo.repositories.sql import Sql, db_datetime

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
_DATETIME_COLUMNS = {"created_at", "updated_at"}


class BulkLoader:
    def __init__(self, sql: Sql | None = None) -> None:
        self._sql = sql or Sql()

    @translate_errors
    async def reserve_ids(self, table: str, count: int) -> list[int]:
        if count <= 0:
            return []
        if self._sql.is_postgres:  # the table's own sequence, so later inserts continue after these
            rows = await self._sql.fetch(
                f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) AS id FROM generate_series(1, $1)",  # noqa: S608
                count,
            )
            return [int(row["id"]) for row in rows]
        row = await self._sql.fetchrow(f"SELECT COALESCE(MAX(id), 0) AS top FROM {table}")  # noqa: S608
        top = int(row["top"]) if row else 0
        return list(range(top + 1, top + 1 + count))

    @translate_errors
    async def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        if self._sql.is_postgres:  # COPY: 100k rows in seconds, where INSERTs take minutes
            async with connections.get("default").acquire_connection() as connection:
                await connection.copy_records_to_table(table, records=rows, columns=list(columns))
            return
        dated = [i for i, name in enumerate(columns) if name in _DATETIME_COLUMNS]
        prepared = [
            [db_datetime(value, "sqlite") if i in dated else value for i, value in enumerate(row)]
            for row in rows
        ]
        placeholders = ", ".join("?" for _ in columns)
        await connections.get("default").execute_many(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})",  # noqa: S608
            prepared,
        )

    @translate_errors
    async def analyze(self) -> None:
        """Fresh planner statistics, so the first queries after a big seed use the indexes
        (PostgreSQL and SQLite alike)."""
        await self._sql.execute("ANALYZE")
