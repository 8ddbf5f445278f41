"""The embedded default of `make run`: SQLite and the in-process store, no PostgreSQL or Redis."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.e2e.conftest import create_video, eventually, register
from tests.support.server import RunningServer, embedded_env, migrate


async def test_embedded_default_serves_the_whole_flow(tmp_path: Path) -> None:
    env = embedded_env(VIEW_FLUSH_INTERVAL_SECONDS="0.3")
    migrate(env, cwd=tmp_path)
    server = RunningServer(env, cwd=tmp_path).start()  # ./halo.db lands in tmp_path
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            health = (await client.get("/health")).json()
            assert health["status"] == "ok"
            owner = await register(client)
            video = await create_video(client, owner)
            vid = video["id"]
            assert (await client.post(f"/api/v1/videos/{vid}/views")).json()["view_count"] == 1
            assert (await client.put(f"/api/v1/videos/{vid}/like", headers=owner.auth)).json()[
                "like_count"
            ] == 1
            assert (
                await client.post(f"/api/v1/videos/{vid}/comments", json={"body": "hi"}, headers=owner.auth)
            ).status_code == 201
            assert (
                await client.post(f"/api/v1/videos/{vid}/presence", json={"viewer_id": "embedded-1"})
            ).json()["live_viewers"] == 1

            async def settled() -> bool:
                body = (await client.get(f"/api/v1/videos/{vid}")).json()
                return (
                    body["view_count"],
                    body["like_count"],
                    body["comment_count"],
                    body["live_viewers"],
                ) == (1, 1, 1, 1)

            assert await eventually(settled)
            listing = (await client.get("/api/v1/videos", params={"q": video["title"][-6:]})).json()
            assert [v["id"] for v in listing["items"]] == [vid]
    finally:
        assert server.terminate() == 0
    assert (tmp_path / "halo.db").exists()
