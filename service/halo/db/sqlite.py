"""SQLite, the embedded default: how a datetime is stored as text.

Loaded only when the database is SQLite (`tortoise_config`): a PostgreSQL deployment never
imports SQLite's driver or Tortoise's SQLite backend (about 1.6 MB of a worker's memory).
"""

from __future__ import annotations

from datetime import UTC, datetime

_TEXT = "%Y-%m-%d %H:%M:%S.%f+00:00"


def datetime_text(value: datetime) -> str:
    """Fixed-width UTC text, so that stored datetimes sort as text (a naive one is taken as UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime(_TEXT)


def store_datetimes_as_text() -> None:
    """Every datetime parameter on SQLite, the ORM's too, as `datetime_text`.

    Tortoise's SQLite executor registers an adapter of its own when it is imported: isoformat(" "),
    which leaves ".000000" out when the microseconds are 0, so the ORM's rows would not sort as
    text beside the keyset pages' parameters. Imported first here, so that this one replaces it.
    """
    import sqlite3

    import tortoise.backends.sqlite.executor  # noqa: F401 - its adapter first, replaced below

    sqlite3.register_adapter(datetime, datetime_text)
