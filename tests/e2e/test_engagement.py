"""Engagement over HTTP: views (write-behind), likes, comments, presence, exact under concurrency."""

from __future__ import annotations

import asyncio

import httpx

from tests.e2e.conftest import assert_envelope, create_video, eventually, register
from tests.support.server import RunningServer
from tests.support.services import db_value


async def test_view_answers_202_with_the_running_count(client: httpx.AsyncClient) -> None:
    video = await create_video(client, await register(client))
    first = await client.post(f"/api/v1/videos/{video['id']}/views")
    assert first.status_code == 202
    assert first.json() == {"video_id": video["id"], "view_count": 1, "counted": True}
    assert (await client.post(f"/api/v1/videos/{video['id']}/views")).json()["view_count"] == 2


async def test_200_concurrent_views_add_exactly_200_after_the_flush(
    server: RunningServer, database_url: str
) -> None:
    async with httpx.AsyncClient(
        base_url=server.url, timeout=30, limits=httpx.Limits(max_connections=50)
    ) as client:
        video = await create_video(client, await register(client))
        url = f"/api/v1/videos/{video['id']}/views"
        responses = await asyncio.gather(*(client.post(url) for _ in range(200)))
        assert {r.status_code for r in responses} == {202}

        async def durable() -> object:
            return (
                await db_value(database_url, "SELECT view_count FROM videos WHERE id = $1", video["id"])
                == 200
            )

        assert await eventually(durable, timeout=15)
        # durable plus pending: nothing counted twice once the flush moved the views
        for _ in range(5):
            assert (await client.get(f"/api/v1/videos/{video['id']}")).json()["view_count"] == 200


async def test_like_is_idempotent_and_never_below_zero(client: httpx.AsyncClient) -> None:
    owner, fan = await register(client), await register(client)
    video = await create_video(client, owner)
    url = f"/api/v1/videos/{video['id']}/like"
    liked = await client.put(url, headers=fan.auth)
    assert liked.status_code == 200 and liked.json() == {
        "video_id": video["id"],
        "liked": True,
        "like_count": 1,
    }
    assert (await client.put(url, headers=fan.auth)).json()["like_count"] == 1
    assert (await client.put(url, headers=owner.auth)).json()["like_count"] == 2
    unliked = await client.delete(url, headers=fan.auth)
    assert unliked.json() == {"video_id": video["id"], "liked": False, "like_count": 1}
    assert (await client.delete(url, headers=fan.auth)).json()["like_count"] == 1
    assert (await client.delete(url, headers=owner.auth)).json()["like_count"] == 0
    assert (await client.delete(url, headers=owner.auth)).json()["like_count"] == 0
    assert_envelope(await client.put(url), 401, "unauthorized")
    assert (await client.get(f"/api/v1/videos/{video['id']}")).json()["like_count"] == 0


async def test_50_concurrent_likes_from_10_users_count_10(server: RunningServer, database_url: str) -> None:
    async with httpx.AsyncClient(
        base_url=server.url, timeout=30, limits=httpx.Limits(max_connections=50)
    ) as client:
        owner = await register(client)
        video = await create_video(client, owner)
        fans = [await register(client) for _ in range(10)]
        url = f"/api/v1/videos/{video['id']}/like"
        responses = await asyncio.gather(*(client.put(url, headers=fans[i % 10].auth) for i in range(50)))
        assert {r.status_code for r in responses} == {200}
        assert max(r.json()["like_count"] for r in responses) == 10
        assert (
            await db_value(database_url, "SELECT count(*) FROM likes WHERE video_id = $1", video["id"]) == 10
        )
        for _ in range(4):  # both workers agree
            async with httpx.AsyncClient(base_url=server.url) as fresh:
                detail = (await fresh.get(f"/api/v1/videos/{video['id']}")).json()
                engagement = (await fresh.get(f"/api/v1/videos/{video['id']}/engagement")).json()
            assert detail["like_count"] == 10 and engagement["like_count"] == 10
        # and concurrent unlikes go back to exactly zero
        responses = await asyncio.gather(*(client.delete(url, headers=fans[i % 10].auth) for i in range(50)))
        assert min(r.json()["like_count"] for r in responses) == 0
        assert (await client.get(f"/api/v1/videos/{video['id']}")).json()["like_count"] == 0


async def test_comments_newest_first_with_pagination(client: httpx.AsyncClient) -> None:
    owner, fan = await register(client), await register(client)
    video = await create_video(client, owner)
    url = f"/api/v1/videos/{video['id']}/comments"
    created = []
    for i in range(7):
        response = await client.post(url, json={"body": f"comment {i} — ünïcode ✓"}, headers=fan.auth)
        assert response.status_code == 201
        comment = response.json()
        assert set(comment) == {
            "id",
            "video_id",
            "user_id",
            "parent_id",
            "body",
            "status",
            "reply_count",
            "created_at",
            "edited_at",
        }
        assert comment["user_id"] == fan.id and comment["video_id"] == video["id"]
        created.append(comment)
    seen, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await client.get(url, params=params)).json()
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [c["id"] for c in seen] == [c["id"] for c in reversed(created)]
    assert seen[0]["body"] == "comment 6 — ünïcode ✓"
    assert (await client.get(f"/api/v1/videos/{video['id']}")).json()["comment_count"] == 7
    # a comments cursor belongs to its video
    other = await create_video(client, owner)
    first_page = (await client.get(url, params={"limit": 2})).json()
    response = await client.get(
        f"/api/v1/videos/{other['id']}/comments", params={"cursor": first_page["next_cursor"]}
    )
    assert_envelope(response, 400, "bad_request")


async def test_comment_rules(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    video = await create_video(client, owner)
    url = f"/api/v1/videos/{video['id']}/comments"
    assert_envelope(await client.post(url, json={"body": "x"}), 401, "unauthorized")
    for payload in (
        {},
        {"body": ""},
        {"body": "x" * 2001},
        {"body": "a\u0000b"},
        {"body": "ok", "user_id": 1},
    ):
        assert_envelope(await client.post(url, json=payload, headers=owner.auth), 422, "validation_failed")
    text = "'; DROP TABLE comments; -- {{7*7}} <script>alert(1)</script> \u202e"
    stored = (await client.post(url, json={"body": text}, headers=owner.auth)).json()
    assert stored["body"] == text
    assert (await client.get(url)).json()["items"][0]["body"] == text


async def test_presence_counts_each_viewer_once(client: httpx.AsyncClient) -> None:
    owner, user = await register(client), await register(client)
    video = await create_video(client, owner)
    url = f"/api/v1/videos/{video['id']}/presence"
    assert (await client.post(url, json={"viewer_id": "anon-viewer-1"})).json() == {
        "video_id": video["id"],
        "live_viewers": 1,
    }
    assert (await client.post(url, json={"viewer_id": "anon-viewer-1"})).json()["live_viewers"] == 1
    assert (await client.post(url, json={"viewer_id": "anon-viewer-2"})).json()["live_viewers"] == 2
    # an authenticated viewer is the user: viewer_id is ignored
    assert (await client.post(url, json={"viewer_id": "anon-viewer-3"}, headers=user.auth)).json()[
        "live_viewers"
    ] == 3
    assert (await client.post(url, json={"viewer_id": "anon-viewer-4"}, headers=user.auth)).json()[
        "live_viewers"
    ] == 3
    assert (await client.post(url, headers=user.auth)).json()["live_viewers"] == 3
    assert (await client.get(f"/api/v1/videos/{video['id']}")).json()["live_viewers"] == 3
    # leaving: body or query string, never below zero
    assert (await client.request("DELETE", url, json={"viewer_id": "anon-viewer-1"})).json()[
        "live_viewers"
    ] == 2
    assert (await client.delete(url, params={"viewer_id": "anon-viewer-2"})).json()["live_viewers"] == 1
    assert (await client.delete(url, params={"viewer_id": "anon-viewer-2"})).json()["live_viewers"] == 1
    assert (await client.delete(url, headers=user.auth)).json()["live_viewers"] == 0
    assert (await client.delete(url, headers=user.auth)).json()["live_viewers"] == 0


async def test_anonymous_presence_needs_a_well_formed_viewer_id(client: httpx.AsyncClient) -> None:
    video = await create_video(client, await register(client))
    url = f"/api/v1/videos/{video['id']}/presence"
    for payload in (
        None,
        {},
        {"viewer_id": "short"},
        {"viewer_id": "has space in it"},
        {"viewer_id": "x" * 65},
    ):
        body = assert_envelope(await client.post(url, json=payload), 422, "validation_failed")
        assert body["details"][0]["field"] == "viewer_id"
    assert_envelope(await client.delete(url), 422, "validation_failed")


async def test_presence_expires_after_the_ttl(database_url: str, redis_url: str) -> None:
    from tests.support.server import base_env

    server = RunningServer(base_env(database_url, redis_url, WORKERS="1", PRESENCE_TTL_SECONDS="1")).start()
    try:
        async with httpx.AsyncClient(base_url=server.url) as client:
            video = await create_video(client, await register(client))
            url = f"/api/v1/videos/{video['id']}/presence"
            assert (await client.post(url, json={"viewer_id": "fleeting-01"})).json()["live_viewers"] == 1

            async def gone() -> bool:
                return (await client.get(f"/api/v1/videos/{video['id']}")).json()["live_viewers"] == 0

            assert await eventually(gone, timeout=10)
    finally:
        server.terminate()


async def test_engagement_endpoint(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    video = await create_video(client, owner)
    vid = video["id"]
    await client.post(f"/api/v1/videos/{vid}/views")
    await client.put(f"/api/v1/videos/{vid}/like", headers=owner.auth)
    await client.post(f"/api/v1/videos/{vid}/comments", json={"body": "x"}, headers=owner.auth)
    await client.post(f"/api/v1/videos/{vid}/presence", headers=owner.auth)
    body = (await client.get(f"/api/v1/videos/{vid}/engagement")).json()
    assert body == {"video_id": vid, "view_count": 1, "like_count": 1, "comment_count": 1, "live_viewers": 1}
