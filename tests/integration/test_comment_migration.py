"""0003/0004 on a database with comments: existing ones become published top-level comments, the
videos `open`, the thread indexes valid (built concurrently on PostgreSQL), and readers are not
blocked while the indexes build."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from tortoise import Tortoise
from tortoise.migrations.api import migrate as tortoise_migrate

from halo.config import Settings
from halo.db.clients import tortoise_config
from halo.db.database import migrate, migrations_on_disk
from tests.support import services


async def _migrate_to(settings: Settings, target: str) -> None:
    try:
        await tortoise_migrate(config=tortoise_config(settings, pool_max=2), target=f"halo.{target}")
    finally:
        await Tortoise.close_connections()


def _after(applied: str) -> list[str]:
    """The migrations a run applies on a database at `applied` (0003, 0004 and any later ones)."""
    return [name for name in migrations_on_disk() if name > applied]


async def _seed_old_rows(conn: asyncpg.Connection) -> int:
    now = datetime.now(UTC)
    user = await conn.fetchval(
        "INSERT INTO users (email, username, password_hash, display_name, is_adult, adult_mode, created_at,"
        " updated_at) VALUES ('old@example.com', 'old', 'x', 'Old', false, false, $1, $1) RETURNING id",
        now,
    )
    video = await conn.fetchval(
        "INSERT INTO videos (user_id, title, is_live, is_adult_content, view_count, view_flush_seq, like_count,"
        " comment_count, counters_version, created_at, updated_at)"
        " VALUES ($1, 'old', false, false, 0, 0, 0, 2, 2, $2, $2) RETURNING id",
        user,
        now,
    )
    for body in ("first", "second"):
        await conn.execute(
            "INSERT INTO comments (video_id, user_id, body, created_at) VALUES ($1, $2, $3, $4)",
            video,
            user,
            body,
            now,
        )
    return int(video)


async def test_existing_comments_become_published_top_level_comments(postgres_server: str) -> None:
    async with services.new_database(postgres_server) as url:
        settings = Settings(env="development", database_url=url)
        await _migrate_to(settings, "0002_videos_engagement")
        conn = await asyncpg.connect(url)
        try:
            video = await _seed_old_rows(conn)
            assert await migrate(settings, report=lambda _: None) == _after("0002_videos_engagement")
            rows = await conn.fetch(
                "SELECT parent_id, status, reply_count, edited_at FROM comments WHERE video_id = $1", video
            )
            assert [tuple(row) for row in rows] == [(None, "published", 0, None)] * 2
            assert await conn.fetchval("SELECT comments_policy FROM videos WHERE id = $1", video) == "open"
            indexes = await conn.fetch(
                "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
                " WHERE c.relname IN ('comments_top_level_idx', 'comments_replies_idx')"
            )
            assert {row["relname"]: row["indisvalid"] for row in indexes} == {
                "comments_top_level_idx": True,
                "comments_replies_idx": True,
            }
        finally:
            await conn.close()


async def test_writers_are_not_blocked_while_the_indexes_build(postgres_server: str) -> None:
    """A transaction holding a write on comments open during the index build: CONCURRENTLY waits
    for it instead of blocking it, so the writer commits and the migration then completes."""
    async with services.new_database(postgres_server) as url:
        settings = Settings(env="development", database_url=url)
        await _migrate_to(settings, "0003_comment_threads")
        conn = await asyncpg.connect(url)
        try:
            video = await _seed_old_rows(conn)
            writer = conn.transaction()
            await writer.start()
            await conn.execute("UPDATE comments SET body = 'edited' WHERE video_id = $1", video)
            migrating = asyncio.create_task(migrate(settings, report=lambda _: None))
            await asyncio.sleep(1.5)
            # while the build waits, other sessions still write (a plain CREATE INDEX would block them)
            other = await asyncpg.connect(url)
            try:
                await asyncio.wait_for(
                    other.execute(
                        "INSERT INTO comments (video_id, user_id, body, created_at)"
                        " SELECT video_id, user_id, 'another', created_at FROM comments LIMIT 1"
                    ),
                    5,
                )
                assert not migrating.done()  # still waiting for the open writer
            finally:
                await other.close()
            await writer.commit()
            assert await asyncio.wait_for(migrating, 60) == _after("0003_comment_threads")
        finally:
            await conn.close()


async def test_comment_migrations_on_sqlite(tmp_path: Path) -> None:
    settings = Settings(env="development", database_url=f"sqlite://{tmp_path}/halo.db")
    await _migrate_to(settings, "0002_videos_engagement")
    assert await migrate(settings, report=lambda _: None) == _after("0002_videos_engagement")
