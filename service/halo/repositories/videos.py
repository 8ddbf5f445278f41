"""Videos: metadata, the keyset-paginated list, and the durable engagement counters.

The only module that knows the videos table. Every sort walks an index in
key order with a `(key, id)` row comparison, so a page costs `limit` index
entries however deep the cursor is, and a walk never repeats or skips a
video whose sort key did not change.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from halo.db.models import Video
from halo.db.replicas import writes
from halo.repositories.base import translate_errors
from halo.repositories.sql import Sql, to_datetime
from halo.values import value

Sort = Literal["-created_at", "created_at", "-view_count", "view_count", "title", "-id"]

COLUMNS = (
    "id, user_id, title, description, thumbnail_url, stream_url, is_live, is_adult_content, "
    "view_count, view_flush_seq, like_count, comment_count, counters_version, created_at, updated_at, "
    "comments_policy"
)
EDITABLE = (
    "title",
    "description",
    "thumbnail_url",
    "stream_url",
    "is_live",
    "is_adult_content",
    "comments_policy",
)


@value
class VideoRow:
    id: int
    user_id: int
    title: str
    description: str | None
    thumbnail_url: str | None
    stream_url: str | None
    is_live: bool
    is_adult_content: bool
    view_count: int
    view_flush_seq: int
    like_count: int
    comment_count: int
    counters_version: int
    created_at: datetime
    updated_at: datetime
    comments_policy: str = "open"  # open, approval or closed

    def sort_key(self, sort: Sort) -> Any:
        field = sort.lstrip("-")
        return getattr(self, field)


@dataclass(frozen=True, slots=True)
class Visibility:
    """Which adult content a caller may see: none, their own, or all."""

    viewer_id: int | None
    sees_all_adult: bool


@dataclass(frozen=True, slots=True)
class ListFilters:
    user_id: int | None = None
    is_live: bool | None = None
    q: str | None = None


def _row(raw: dict[str, Any]) -> VideoRow:
    """A row from the dict path (SQLite's text dates and integer booleans made Python's)."""
    raw["is_live"] = bool(raw["is_live"])
    raw["is_adult_content"] = bool(raw["is_adult_content"])
    raw["created_at"] = to_datetime(raw["created_at"])
    raw["updated_at"] = to_datetime(raw["updated_at"])
    return VideoRow(**raw)


def _video(video: Video) -> VideoRow:
    return VideoRow(*(getattr(video, field.name) for field in dataclasses.fields(VideoRow)))


def escape_like(text: str) -> str:
    """`%` and `_` in a search match themselves."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# (order by, comparison for the next page)
_ORDER = {
    "-created_at": ("created_at DESC, id DESC", "(created_at, id) < ({k}, {i})"),
    "created_at": ("created_at ASC, id ASC", "(created_at, id) > ({k}, {i})"),
    "-view_count": ("view_count DESC, id DESC", "(view_count, id) < ({k}, {i})"),
    "view_count": ("view_count ASC, id ASC", "(view_count, id) > ({k}, {i})"),
    "-id": ("id DESC", "(id, id) < ({k}, {i})"),  # the key is the id itself (trending's tail)
    "title": ("{title} ASC, id ASC", "({title}, id) > ({k}, {i})"),
}


class VideoRepository:
    def __init__(self, sql: Sql | None = None) -> None:
        self._sql = sql or Sql()

    # raw SQL: the list and detail reads, measured: asyncpg's records by position, no dict or model a row
    async def _rows(self, sql: str, *args: Any) -> list[VideoRow]:
        """Rows of a `SELECT {COLUMNS}`. On PostgreSQL straight from asyncpg's records, by
        position (COLUMNS is in VideoRow's order; booleans and timestamptz arrive as Python's),
        without a dict and a keyword call per row: list pages build many."""
        reader = self._sql.reader()  # a read replica when one can serve it
        if reader.is_postgres:
            return [VideoRow(*record) for record in await reader.fetch_records(sql, *args)]
        return [_row(raw) for raw in await reader.fetch(sql, *args)]

    # raw SQL: the warm detail read (through _rows)
    @translate_errors
    async def get(self, video_id: int) -> VideoRow | None:
        rows = await self._rows(f"SELECT {COLUMNS} FROM videos WHERE id = $1", video_id)  # noqa: S608
        return rows[0] if rows else None

    @translate_errors
    @writes
    async def create(self, user_id: int, fields: dict[str, Any]) -> VideoRow:
        video = await Video.create(
            user_id=user_id,
            title=fields["title"],
            description=fields.get("description"),
            thumbnail_url=fields.get("thumbnail_url"),
            stream_url=fields.get("stream_url"),
            is_live=bool(fields.get("is_live", False)),
            is_adult_content=bool(fields.get("is_adult_content", False)),
            comments_policy=fields.get("comments_policy") or "open",
            created_at=datetime.now(UTC),
            using_db=self._sql.client,
        )
        return _video(video)

    @translate_errors
    @writes
    async def update(self, video_id: int, changes: dict[str, Any]) -> VideoRow | None:
        values = {name: changes[name] for name in EDITABLE if name in changes}
        async with self._sql.transaction() as tx:  # the row read back as this update left it
            query = Video.filter(id=video_id).using_db(tx.client)
            if not await query.update(**values, updated_at=datetime.now(UTC)):
                return None
            video = await query.first()
        return _video(video) if video is not None else None

    @translate_errors
    @writes
    async def delete(self, video_id: int) -> bool:
        """Delete a video; its likes and comments go with it (ON DELETE CASCADE)."""
        return await Video.filter(id=video_id).using_db(self._sql.client).delete() > 0

    # raw SQL: keyset pages over five sorts (row-value comparisons, binary title order, literal search)
    @translate_errors
    async def page(
        self,
        *,
        sort: Sort,
        filters: ListFilters,
        visibility: Visibility,
        after: tuple[Any, int] | None,
        limit: int,
        excluding: Sequence[int] = (),
    ) -> list[VideoRow]:
        """Up to `limit` videos in `sort` order after the keyset position `after` (sort key, id),
        none of `excluding`."""
        conditions: list[str] = []
        args: list[Any] = []

        def arg(value: Any) -> str:
            args.append(value)
            return f"${len(args)}"

        if excluding:
            among, ids = self._sql.any_id("id", f"${len(args) + 1}", excluding)
            args.append(ids)
            conditions.append(f"NOT ({among})")

        if not visibility.sees_all_adult:
            if visibility.viewer_id is None:
                conditions.append("NOT is_adult_content")
            else:
                conditions.append(f"(NOT is_adult_content OR user_id = {arg(visibility.viewer_id)})")
        if filters.user_id is not None:
            conditions.append(f"user_id = {arg(filters.user_id)}")
        if filters.is_live is not None:
            conditions.append("is_live" if filters.is_live else "NOT is_live")
        if filters.q:
            pattern = arg("%" + escape_like(filters.q) + "%")
            conditions.append(self._sql.contains_insensitive("title", pattern))

        title = self._sql.binary("title")
        order, seek = _ORDER[sort]
        if after is not None:
            key, last_id = after
            if sort.endswith("created_at"):
                key = self._sql.timestamp(key)
            conditions.append(seek.format(k=arg(key), i=arg(last_id), title=title))
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        sql = f"SELECT {COLUMNS} FROM videos {where} ORDER BY {order.format(title=title)} LIMIT {arg(limit)}"  # noqa: S608
        return await self._rows(sql, *args)

    # raw SQL: one query for a batch of ids (any_id), rows through _rows
    @translate_errors
    async def by_ids(self, ids: Sequence[int], visibility: Visibility) -> list[VideoRow]:
        """The videos of `ids` the caller may see, in one query (in no particular order)."""
        if not ids:
            return []
        where, among = self._sql.any_id("id", "$1", ids)
        args: list[Any] = [among]
        if not visibility.sees_all_adult:
            if visibility.viewer_id is None:
                where += " AND NOT is_adult_content"
            else:
                args.append(visibility.viewer_id)
                where += f" AND (NOT is_adult_content OR user_id = ${len(args)})"
        return await self._rows(f"SELECT {COLUMNS} FROM videos WHERE {where}", *args)  # noqa: S608

    @translate_errors
    async def exists(self, video_id: int) -> bool:
        row = await self._sql.reader().fetchrow("SELECT 1 AS one FROM videos WHERE id = $1", video_id)
        return row is not None
