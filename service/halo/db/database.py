"""ORM lifecycle and migrations: open and close the pool, apply migrations under a lock."""

from __future__ import annotations

import asyncio
import logging
import pkgutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
from tortoise import Tortoise, connections

from halo.config import Settings
from halo.db.clients import APP_LABEL, MIGRATIONS_MODULE, tortoise_config

log = logging.getLogger("halo.db.database")

# pg_advisory_lock key: any constant the application owns ("HALO" in ASCII).
MIGRATION_LOCK_KEY = 0x48414C4F
MIGRATION_TABLE = "tortoise_migrations"


async def open_orm(settings: Settings, *, pool_max: int | None = None) -> None:
    """Initialise Tortoise for this process (per worker). Connections open lazily."""
    await Tortoise.init(
        config=tortoise_config(settings, pool_max=pool_max),
        _enable_global_fallback=True,
    )


async def close_orm(timeout: float = 5.0) -> None:
    """Close the pools; a connection still out after `timeout` is terminated.

    A task cancelled at the wrong moment can leave its connection checked out
    for ever (the cancellation lands between the pool's acquire and the
    caller's release); a graceful close would then wait for it without end.
    """
    pools = [pool for pool in (_pool_of(client) for client in _clients()) if pool is not None]
    try:
        await asyncio.wait_for(Tortoise.close_connections(), timeout)
    except TimeoutError:
        log.warning("database connections still in use after %ss; terminating them", timeout)
        for pool in pools:
            pool.terminate()


def _clients() -> list[Any]:
    try:
        return list(connections.all())
    except Exception:  # not initialised
        return []


def _pool_of(client: Any) -> asyncpg.Pool | None:
    pool = getattr(client, "_pool", None)  # Tortoise's asyncpg client keeps it there
    return pool if isinstance(pool, asyncpg.Pool) else None


@dataclass(frozen=True, slots=True)
class PoolUsage:
    name: str
    used: int
    idle: int
    maximum: int


def pool_usage(name: str = "default") -> PoolUsage | None:
    """This worker's PostgreSQL pool right now; None before it opens (or on SQLite, which has none)."""
    try:
        pool = getattr(connections.get(name), "_pool", None)  # Tortoise's asyncpg client keeps it there
    except Exception:  # not initialised, or already closed
        return None
    if not isinstance(pool, asyncpg.Pool):
        return None
    size, idle = pool.get_size(), pool.get_idle_size()
    return PoolUsage(name, used=size - idle, idle=idle, maximum=pool.get_max_size())


def migrations_on_disk() -> list[str]:
    import importlib

    package = importlib.import_module(MIGRATIONS_MODULE)
    return sorted(
        name
        for _, name, is_pkg in pkgutil.iter_modules(package.__path__)
        if not is_pkg and name[0] not in "_~"
    )


async def pending_migrations() -> list[str]:
    """Migrations on disk not yet applied to the connected database (needs `open_orm`)."""
    connection = connections.get("default")
    try:
        _, rows = await connection.execute_query(
            f'SELECT name FROM "{MIGRATION_TABLE}" WHERE app = {_placeholder(connection)}',  # noqa: S608
            [APP_LABEL],
        )
    except Exception as exc:  # no table yet: nothing applied
        if _is_missing_table(exc):
            return migrations_on_disk()
        raise
    applied = {row["name"] for row in rows}
    return [name for name in migrations_on_disk() if name not in applied]


def _placeholder(connection: Any) -> str:
    return "$1" if connection.capabilities.dialect == "postgres" else "?"


def _is_missing_table(exc: Exception) -> bool:
    text = str(exc).lower()
    return "does not exist" in text or "no such table" in text


class MigrationRefused(RuntimeError):
    """`halo migrate` cannot run safely with these settings."""


def migration_settings(settings: Settings) -> Settings:
    """The settings `halo migrate` connects with: DATABASE_MIGRATION_URL when set (a direct
    connection to the primary), else DATABASE_URL.

    The migration lock is a session-level advisory lock, held by one connection while the run
    lasts (a transaction-level one, held by an open transaction, would block the migrations'
    CREATE INDEX CONCURRENTLY, which waits for every open transaction). A transaction-mode
    pooler gives a session lock to whichever server connection ran the statement, and keeps it
    there after the run; so with DATABASE_POOLER set, migrations need DATABASE_MIGRATION_URL.
    """
    if settings.database_migration_url is not None:
        url = settings.database_migration_url.get_secret_value()
        return settings.model_copy(update={"database_url": url, "database_pooler": "none"})
    if settings.database_pooler != "none":
        raise MigrationRefused(
            f"DATABASE_POOLER={settings.database_pooler}: the migration lock is a session-level advisory "
            "lock, which a transaction-mode pooler cannot hold; set DATABASE_MIGRATION_URL to a direct "
            "connection to PostgreSQL (or to a session-mode pool)"
        )
    return settings


async def migrate(
    settings: Settings, *, lock_timeout: float = 600.0, report: Callable[[str], None] = print
) -> list[str]:
    """Apply pending migrations. On PostgreSQL the run holds an advisory lock, so
    concurrent runs (hook Jobs, pods, developers) apply each migration once.
    Returns the names applied by this run."""
    settings = migration_settings(settings)
    lock = await _acquire_migration_lock(settings, lock_timeout, report) if not settings.is_sqlite else None
    applied: list[str] = []

    def progress(event: str, app_label: str, name: str) -> None:
        if event == "apply_done":
            applied.append(name)
            report(f"applied {app_label}.{name}")

    try:
        from tortoise.migrations.api import migrate as tortoise_migrate  # only here: not in a serving worker

        await tortoise_migrate(config=tortoise_config(settings, pool_max=2), progress=progress)
    finally:
        await Tortoise.close_connections()
        if lock is not None:
            await lock.close()  # closing the session releases the advisory lock
    if not applied:
        report("database is up to date")
    return applied


async def _acquire_migration_lock(
    settings: Settings, lock_timeout: float, report: Callable[[str], None]
) -> asyncpg.Connection:
    conn = await asyncpg.connect(
        settings.database_url,
        timeout=settings.database_timeout_seconds,
        server_settings={"application_name": "halo-migrate"},
    )
    deadline = time.monotonic() + lock_timeout
    waiting_reported = False
    try:
        while not await conn.fetchval("SELECT pg_try_advisory_lock($1)", MIGRATION_LOCK_KEY):
            if time.monotonic() > deadline:
                raise TimeoutError(f"another migration held the lock for over {lock_timeout:.0f}s")
            if not waiting_reported:
                report("another migration is running; waiting for its lock")
                waiting_reported = True
            await asyncio.sleep(0.2)
    except BaseException:
        await conn.close()
        raise
    return conn
