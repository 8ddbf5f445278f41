"""`halo migrate`: from empty, idempotent, safe when several run at once, on PostgreSQL and SQLite."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import asyncpg
from tortoise import Tortoise
from tortoise.migrations.api import migrate as tortoise_migrate

from halo.config import Settings
from halo.db.clients import tortoise_config
from halo.db.database import migrate, migrations_on_disk
from tests.support import services


async def _tables(url: str) -> set[str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {row["tablename"] for row in rows}
    finally:
        await conn.close()


async def test_migrate_from_empty_then_again_applies_nothing(postgres_server: str) -> None:
    async with services.new_database(postgres_server) as url:
        settings = Settings(env="development", database_url=url)
        first = await migrate(settings, report=lambda _: None)
        assert first == migrations_on_disk()
        assert {"users", "revoked_tokens", "tortoise_migrations"} <= await _tables(url)
        assert await migrate(settings, report=lambda _: None) == []


async def test_concurrent_migrate_runs_apply_each_migration_once(postgres_server: str) -> None:
    async with services.new_database(postgres_server) as url:
        env = {"PATH": "/usr/bin:/bin", "ENV": "development", "DATABASE_URL": url}
        procs = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "halo",
                "migrate",
                env=env,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            for _ in range(4)
        ]
        outputs = [await asyncio.wait_for(p.communicate(), 120) for p in procs]
        assert [p.returncode for p in procs] == [0, 0, 0, 0], outputs
        conn = await asyncpg.connect(url)
        try:
            rows = await conn.fetch("SELECT name, count(*) AS n FROM tortoise_migrations GROUP BY name")
        finally:
            await conn.close()
        assert {row["name"]: row["n"] for row in rows} == {name: 1 for name in migrations_on_disk()}
        applied_lines = sum(out.decode().count("applied halo.") for out, _ in outputs)
        assert applied_lines == len(migrations_on_disk())


async def test_revocation_versions_migrate_onto_existing_revocations(postgres_server: str) -> None:
    """0005 on a database with revocations: they keep working (version 0, below any cache's), and
    the state row starts the versions at 0."""
    async with services.new_database(postgres_server) as url:
        settings = Settings(env="development", database_url=url)
        try:
            config = tortoise_config(settings, pool_max=2)
            await tortoise_migrate(config=config, target="halo.0004_comment_thread_indexes")
        finally:
            await Tortoise.close_connections()
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(
                "INSERT INTO revoked_tokens (jti, expires_at) VALUES ('before', now() + interval '1 hour')"
            )
            applied = await migrate(settings, report=lambda _: None)
            assert applied[0] == "0005_revocation_versions"
            assert await conn.fetchval("SELECT version FROM revoked_tokens WHERE jti = 'before'") == 0
            rows = await conn.fetch("SELECT id, version FROM revocation_state")
            assert [tuple(row) for row in rows] == [(1, 0)]
        finally:
            await conn.close()


def test_migrate_on_sqlite_from_empty_and_idempotent(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "ENV": "development", "DATABASE_URL": f"sqlite://{tmp_path}/halo.db"}
    first = subprocess.run(
        [sys.executable, "-m", "halo", "migrate"], env=env, capture_output=True, text=True, timeout=120
    )
    assert first.returncode == 0, first.stderr
    assert "applied halo.0001_initial" in first.stdout
    second = subprocess.run(
        [sys.executable, "-m", "halo", "migrate"], env=env, capture_output=True, text=True, timeout=120
    )
    assert second.returncode == 0
    assert "up to date" in second.stdout
