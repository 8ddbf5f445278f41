"""Hand-written SQL through Tortoise's own connection pool, and every difference between
PostgreSQL and SQLite that the repositories' SQL meets, in one place.

The list queries (keyset pagination over five sorts, literal substring search,
binary title order) and the counter updates are clearer and faster as SQL
than as ORM queries. Statements use PostgreSQL's `$1` placeholders; on SQLite
they become `?1`. Rows come back as dicts with Python types on both.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, TypeVar

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from halo.db import replicas
from halo.db.sqlite import datetime_text

T = TypeVar("T")
_PLACEHOLDER = re.compile(r"\$(\d+)")


@lru_cache(maxsize=512)
def _for_sqlite(sql: str) -> str:
    return _PLACEHOLDER.sub(r"?\1", sql)


def to_datetime(value: Any) -> datetime:
    """SQLite hands back text; PostgreSQL a datetime."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def db_datetime(value: datetime, dialect: str) -> Any:
    """A datetime parameter as the dialect stores it (SQLite: fixed-width text, so it sorts)."""
    if dialect == "postgres":
        return value
    return datetime_text(value)


class Sql:
    """Runs statements on a Tortoise client: the pool, or one transaction's connection."""

    def __init__(self, client: BaseDBAsyncClient | None = None) -> None:
        self._client = client

    @property
    def client(self) -> BaseDBAsyncClient:
        return self._client if self._client is not None else connections.get("default")

    @property
    def dialect(self) -> str:
        return self.client.capabilities.dialect

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgres"

    # --- what differs between the two dialects -----------------------------------

    def any_id(self, column: str, placeholder: str, ids: Sequence[int]) -> tuple[str, Any]:
        """`column` is one of `ids`, as one parameter whatever their number: the condition and
        the parameter's value (PostgreSQL: a bigint array; SQLite: a JSON array)."""
        if self.is_postgres:
            return f"{column} = ANY({placeholder}::bigint[])", list(ids)
        return f"{column} IN (SELECT value FROM json_each({placeholder}))", json.dumps(list(ids))  # noqa: S608

    def contains_insensitive(self, column: str, placeholder: str) -> str:
        """`column` contains the LIKE pattern, case-insensitively (`\\` escapes)."""
        operator = "ILIKE" if self.is_postgres else "LIKE"  # SQLite's LIKE ignores ASCII case
        return f"{column} {operator} {placeholder} ESCAPE '\\'"

    def binary(self, column: str) -> str:
        """`column` compared and ordered by its bytes (SQLite's default; PostgreSQL's "C")."""
        return f'{column} COLLATE "C"' if self.is_postgres else column

    def timestamp(self, value: datetime) -> Any:
        return db_datetime(value, self.dialect)

    def pairs(
        self, first: str, second: str, a: Sequence[int], b: Sequence[int], names: tuple[str, str]
    ) -> tuple[str, Any, Any]:
        """`a` and `b` zipped, as a subquery with the columns `names`, from the two parameters
        `first` and `second`: the subquery and the two values (PostgreSQL: bigint arrays, unnested;
        SQLite: JSON arrays, joined by position)."""
        x, y = names
        if self.is_postgres:
            unnested = f"(SELECT * FROM unnest({first}::bigint[], {second}::bigint[]) AS t({x}, {y}))"  # noqa: S608
            return unnested, list(a), list(b)
        return (
            f"(SELECT a.value AS {x}, b.value AS {y} FROM json_each({first}) AS a "  # noqa: S608
            f"JOIN json_each({second}) AS b ON a.key = b.key)",
            json.dumps(list(a)),
            json.dumps(list(b)),
        )

    async def reserve_ids(self, table: str, count: int) -> list[int]:
        """`count` ids for new rows of `table`. PostgreSQL: from the table's own sequence, so later
        inserts continue after them; SQLite (one writer): the ids after the highest."""
        if self.is_postgres:
            rows = await self.fetch(
                f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) AS id FROM generate_series(1, $1)",  # noqa: S608
                count,
            )
            return [int(row["id"]) for row in rows]
        row = await self.fetchrow(f"SELECT COALESCE(MAX(id), 0) AS top FROM {table}")  # noqa: S608
        top = int(row["top"]) if row else 0
        return list(range(top + 1, top + 1 + count))

    async def load(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Many rows into `table`: PostgreSQL's COPY (100k rows in seconds, where INSERTs take
        minutes); SQLite's executemany (its datetimes adapted as above)."""
        if self.is_postgres:
            async with self.client.acquire_connection() as connection:
                await connection.copy_records_to_table(table, records=rows, columns=list(columns))
            return
        await self.client.execute_many(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})",  # noqa: S608
            [list(row) for row in rows],
        )

    def _statement(self, sql: str) -> str:
        return sql if self.dialect == "postgres" else _for_sqlite(sql)

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        return await self.client.execute_query_dict(self._statement(sql), list(args))

    async def fetch_records(self, sql: str, *args: Any) -> list[Any]:
        """PostgreSQL only: the rows as asyncpg hands them over (records, read by position or
        name), without a dict made for each; for hot reads of many rows."""
        async with self.client.acquire_connection() as connection:
            return await connection.fetch(sql, *args)  # type: ignore[no-any-return]

    async def fetchrow(self, sql: str, *args: Any) -> dict[str, Any] | None:
        rows = await self.fetch(sql, *args)
        return rows[0] if rows else None

    async def execute(self, sql: str, *args: Any) -> int:
        affected, _ = await self.client.execute_query(self._statement(sql), list(args))
        return affected

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Sql]:
        async with in_transaction("default") as connection:
            yield Sql(connection)

    def reader(self) -> Sql:
        """Where a read may go: a read replica that can serve it (halo.db.replicas), else the
        primary. Inside a transaction, the transaction; without replicas, the primary."""
        return self if self._client is not None or replicas.router() is None else ReadSql()


class ReadSql(Sql):
    """Reads on a replica the router chooses, else on the primary. A replica's failure is
    retried once on the primary (and the replica skipped until it answers again): a request
    never fails because a replica is down. Writes (`execute`) stay on the primary."""

    async def _routed(self, run: Callable[[Sql], Awaitable[T]]) -> T:
        router = replicas.router()
        replica = await router.choose() if router is not None else None
        if router is None or replica is None:
            result = await run(Sql())
            if router is not None:
                router.read(None)
            return result
        try:
            result = await run(Sql(replica.client))
        except Exception as exc:
            router.failed(replica, exc)
            result = await run(Sql())
            router.read(None)
            return result
        router.read(replica)
        return result

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        return await self._routed(lambda target: Sql.fetch(target, sql, *args))

    async def fetch_records(self, sql: str, *args: Any) -> list[Any]:
        return await self._routed(lambda target: Sql.fetch_records(target, sql, *args))
