"""`halo seed`: consistent demo data in PostgreSQL (or SQLite) and matching engagement in Redis."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import asyncpg
from redis import Redis

from halo.engagement.redis_store import counters_key
from tests.support import services


def _seed(database_url: str, *, users: int, videos: int, **env: str) -> subprocess.CompletedProcess[str]:
    """`halo migrate`, then `halo seed` of `users` and `videos`, on `database_url`."""
    env = {
        "PATH": "/usr/bin:/bin",
        "ENV": "development",
        "DATABASE_URL": database_url,
        "BCRYPT_ROUNDS": "4",
        **env,
    }
    subprocess.run([sys.executable, "-m", "halo", "migrate"], env=env, check=True, capture_output=True)
    return subprocess.run(
        [sys.executable, "-m", "halo", "seed", "--users", str(users), "--videos", str(videos)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


async def test_seed_fills_consistent_rows_and_warms_redis(postgres_server: str, redis_url: str) -> None:
    async with services.new_database(postgres_server) as url:
        result = _seed(url, users=50, videos=300, REDIS_URL=redis_url)
        assert result.returncode == 0, result.stderr
        assert "seeded 50 users" in result.stdout
        conn = await asyncpg.connect(url)
        try:
            assert await conn.fetchval("SELECT count(*) FROM users") == 50
            assert await conn.fetchval("SELECT count(*) FROM videos") == 300
            mismatched = await conn.fetchval(
                """SELECT count(*) FROM videos v WHERE
                   like_count <> (SELECT count(*) FROM likes l WHERE l.video_id = v.id)
                   OR comment_count <> (SELECT count(*) FROM comments c WHERE c.video_id = v.id)"""
            )
            assert mismatched == 0
            assert await conn.fetchval("SELECT count(*) FROM likes") > 0
            adult_by_minor = await conn.fetchval(
                "SELECT count(*) FROM videos v JOIN users u ON u.id = v.user_id WHERE v.is_adult_content AND NOT u.is_adult"
            )
            assert adult_by_minor == 0
            sample = await conn.fetch("SELECT id, like_count, comment_count FROM videos ORDER BY id LIMIT 20")
        finally:
            await conn.close()
        redis = Redis.from_url(redis_url)
        try:
            for row in sample:
                cached = redis.hmget(counters_key(row["id"]), "l", "c")
                assert cached == [str(row["like_count"]).encode(), str(row["comment_count"]).encode()]
        finally:
            redis.close()


def test_seed_on_sqlite(tmp_path: Path) -> None:
    result = _seed(f"sqlite://{tmp_path}/halo.db", users=5, videos=40)
    assert result.returncode == 0, result.stderr
    import sqlite3

    with sqlite3.connect(tmp_path / "halo.db") as db:
        assert db.execute("SELECT count(*) FROM videos").fetchone() == (40,)
        assert db.execute(
            "SELECT count(*) FROM videos v WHERE like_count <> (SELECT count(*) FROM likes l WHERE l.video_id = v.id)"
        ).fetchone() == (0,)
