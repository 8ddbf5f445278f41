"""The real server on a three-master Redis Cluster (REDIS_CLUSTER=true), over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import asyncpg
import httpx
import pytest

from tests.e2e.conftest import create_video, eventually, register
from tests.support.server import RunningServer, base_env, serving


@pytest.fixture(scope="module")
def cluster_server(database_url: str, redis_cluster_url: str) -> Iterator[RunningServer]:
    env = base_env(
        database_url,
        redis_cluster_url,
        REDIS_CLUSTER="true",
        WORKERS="2",
        RATE_LIMIT_BACKEND="redis",
        REDIS_POOL_MAX="8",  # small, so that the burst below queues for connections
    )
    yield from serving(env)


async def test_engagement_adds_up_on_a_redis_cluster(
    cluster_server: RunningServer, database_url: str
) -> None:
    async with httpx.AsyncClient(
        base_url=cluster_server.url, timeout=30, limits=httpx.Limits(max_connections=30)
    ) as client:
        health = (await client.get("/health")).json()
        assert health["status"] == "ok" and health["checks"]["redis"]["status"] == "ok"

        owner = await register(client)
        video = await create_video(client, owner)
        vid = video["id"]
        fans = [await register(client) for _ in range(3)]
        for fan in fans:
            response = await client.put(f"/api/v1/videos/{vid}/like", headers=fan.auth)
            assert response.status_code == 200, response.text
        unliked = await client.delete(f"/api/v1/videos/{vid}/like", headers=fans[0].auth)
        assert unliked.json()["like_count"] == 2
        views = await asyncio.gather(*(client.post(f"/api/v1/videos/{vid}/views") for _ in range(40)))
        assert {r.status_code for r in views} == {202}, [
            line for line in cluster_server.logs().splitlines() if "redis call failed" in line
        ]
        comment = await client.post(f"/api/v1/videos/{vid}/comments", json={"body": "hi"}, headers=owner.auth)
        assert comment.status_code == 201
        for viewer in ("anon-viewer-1", "anon-viewer-2", "anon-viewer-1"):
            beat = await client.post(f"/api/v1/videos/{vid}/presence", json={"viewer_id": viewer})
            assert beat.status_code == 200
        assert beat.json()["live_viewers"] == 2
        assert "ratelimit-remaining" in beat.headers  # the limiter answered from the cluster

        async def flushed() -> bool:
            conn = await asyncpg.connect(database_url)
            try:
                return await conn.fetchval("SELECT view_count FROM videos WHERE id = $1", vid) == 40
            finally:
                await conn.close()

        assert await eventually(flushed, timeout=15)
        detail = (await client.get(f"/api/v1/videos/{vid}")).json()
        assert (
            detail["view_count"],
            detail["like_count"],
            detail["comment_count"],
            detail["live_viewers"],
        ) == (
            40,
            2,
            1,
            2,
        )
        assert "x-engagement" not in (await client.get(f"/api/v1/videos/{vid}")).headers

        # revocations are cached on the cluster too: a logged-out token is refused by every worker
        assert (await client.post("/api/v1/auth/logout", headers=fans[1].auth)).status_code == 204
        for _ in range(6):
            assert (await client.get("/api/v1/auth/profile", headers=fans[1].auth)).status_code == 401
    assert "redis call failed" not in cluster_server.logs()
