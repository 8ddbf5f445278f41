"""Videos over HTTP: create, read, change, delete, the visibility rule and owner checks."""

from __future__ import annotations

import asyncpg
import httpx
from redis import Redis

from tests.e2e.conftest import assert_envelope, create_video, engaged_video, make_adult_mode, register, unique

VIDEO_FIELDS = {
    "id",
    "user_id",
    "title",
    "description",
    "thumbnail_url",
    "stream_url",
    "is_live",
    "is_adult_content",
    "comments_policy",
    "view_count",
    "like_count",
    "comment_count",
    "live_viewers",
    "viewer",
    "created_at",
    "updated_at",
}


async def test_create_returns_the_video_with_engagement(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    response = await client.post(
        "/api/v1/videos",
        headers=owner.auth,
        json={
            "title": "Ünïcode 🎬 title",
            "description": "first",
            "thumbnail_url": "https://img.example/t.jpg",
            "stream_url": "https://cdn.example/s.m3u8",
            "is_live": True,
        },
    )
    assert response.status_code == 201
    video = response.json()
    assert set(video) == VIDEO_FIELDS
    assert video["user_id"] == owner.id
    assert video["title"] == "Ünïcode 🎬 title"
    assert video["is_live"] is True and video["is_adult_content"] is False
    assert (video["view_count"], video["like_count"], video["comment_count"], video["live_viewers"]) == (
        0,
        0,
        0,
        0,
    )
    detail = await client.get(f"/api/v1/videos/{video['id']}")
    assert detail.status_code == 200 and detail.json()["title"] == "Ünïcode 🎬 title"


async def test_create_needs_a_token_and_valid_fields(client: httpx.AsyncClient) -> None:
    assert_envelope(await client.post("/api/v1/videos", json={"title": "x"}), 401, "unauthorized")
    owner = await register(client)
    for payload, field in [
        ({}, "title"),
        ({"title": ""}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": "ok", "stream_url": "javascript:alert(1)"}, "stream_url"),
        ({"title": "ok", "thumbnail_url": "not a url"}, "thumbnail_url"),
        ({"title": "ok", "description": "d" * 5001}, "description"),
        ({"title": "nul\u0000"}, "title"),
        ({"title": "ok", "view_count": 5}, "view_count"),
        ({"title": "ok", "user_id": 1}, "user_id"),
        ({"title": "ok", "is_live": "yes"}, "is_live"),
    ]:
        body = assert_envelope(
            await client.post("/api/v1/videos", json=payload, headers=owner.auth), 422, "validation_failed"
        )
        assert field in [d["field"] for d in body["details"]], (payload, body)


async def test_only_adults_publish_adult_content(client: httpx.AsyncClient) -> None:
    minor = await register(client)
    response = await client.post(
        "/api/v1/videos", json={"title": "x", "is_adult_content": True}, headers=minor.auth
    )
    assert_envelope(response, 403, "forbidden")
    adult = await register(client, is_adult=True)
    video = await create_video(client, adult, is_adult_content=True)
    assert video["is_adult_content"] is True
    own = await create_video(client, minor)
    response = await client.patch(
        f"/api/v1/videos/{own['id']}", json={"is_adult_content": True}, headers=minor.auth
    )
    assert_envelope(response, 403, "forbidden")


async def test_missing_and_impossible_ids_are_404(client: httpx.AsyncClient) -> None:
    for path in (
        "/api/v1/videos/999999999999",
        "/api/v1/videos/0",
        "/api/v1/videos/-5",
        "/api/v1/videos/99999999999999999999999",
        "/api/v1/videos/abc",
        "/api/v1/videos/999999999999/engagement",
        "/api/v1/videos/999999999999/comments",
    ):
        assert_envelope(await client.get(path), 404, "not_found")


async def test_owner_patches_only_named_fields(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    video = await create_video(
        client, owner, description="keep me", thumbnail_url="https://img.example/a.png"
    )
    url = f"/api/v1/videos/{video['id']}"
    response = await client.patch(url, json={"title": "Renamed"}, headers=owner.auth)
    assert response.status_code == 200
    changed = response.json()
    assert changed["title"] == "Renamed" and changed["description"] == "keep me"
    assert changed["updated_at"] >= video["updated_at"]
    cleared = (
        await client.patch(url, json={"description": None, "thumbnail_url": None}, headers=owner.auth)
    ).json()
    assert (
        cleared["description"] is None and cleared["thumbnail_url"] is None and cleared["title"] == "Renamed"
    )
    for field in ("title", "stream_url", "is_live", "is_adult_content"):
        body = assert_envelope(
            await client.patch(url, json={field: None}, headers=owner.auth), 422, "validation_failed"
        )
        assert body["details"][0]["field"] == field
    for field, value in (("view_count", 10), ("user_id", 1), ("id", 5), ("like_count", 3)):
        body = assert_envelope(
            await client.patch(url, json={field: value}, headers=owner.auth), 422, "validation_failed"
        )
        assert body["details"][0]["field"] == field


async def test_non_owner_cannot_change_or_delete(client: httpx.AsyncClient) -> None:
    owner, other = await register(client), await register(client)
    video = await create_video(client, owner)
    url = f"/api/v1/videos/{video['id']}"
    assert_envelope(await client.patch(url, json={"title": "mine now"}, headers=other.auth), 403, "forbidden")
    assert_envelope(await client.delete(url, headers=other.auth), 403, "forbidden")
    assert_envelope(await client.delete(url), 401, "unauthorized")
    assert (await client.get(url)).json()["title"] == video["title"]


async def test_adult_content_is_hidden_from_everybody_but_owner_and_adults_in_adult_mode(
    client: httpx.AsyncClient,
) -> None:
    owner = await register(client, is_adult=True)
    video = await create_video(client, owner, is_adult_content=True, title=unique("Adult "))
    vid = video["id"]
    minor = await register(client)
    adult_off = await register(client, is_adult=True)
    adult_on = await register(client, is_adult=True)
    await make_adult_mode(client, adult_on)

    def sub_resources() -> list[tuple[str, str, dict | None]]:
        return [
            ("GET", f"/api/v1/videos/{vid}", None),
            ("GET", f"/api/v1/videos/{vid}/engagement", None),
            ("POST", f"/api/v1/videos/{vid}/views", None),
            ("GET", f"/api/v1/videos/{vid}/comments", None),
            ("POST", f"/api/v1/videos/{vid}/presence", {"viewer_id": "viewer-0001"}),
            ("DELETE", f"/api/v1/videos/{vid}/presence?viewer_id=viewer-0001", None),
        ]

    for caller in (None, minor, adult_off):
        headers = caller.auth if caller else {}
        for method, path, body in sub_resources():
            response = await client.request(method, path, json=body, headers=headers)
            assert_envelope(response, 404, "not_found")
        listing = await client.get("/api/v1/videos", params={"user_id": owner.id}, headers=headers)
        assert [v["id"] for v in listing.json()["items"]] == []
    for caller in (minor, adult_off):  # writes too, and visibility comes before ownership checks
        for method, path, body in [
            ("PUT", f"/api/v1/videos/{vid}/like", None),
            ("DELETE", f"/api/v1/videos/{vid}/like", None),
            ("POST", f"/api/v1/videos/{vid}/comments", {"body": "hi"}),
            ("PATCH", f"/api/v1/videos/{vid}", {"title": "x"}),
            ("DELETE", f"/api/v1/videos/{vid}", None),
        ]:
            assert_envelope(
                await client.request(method, path, json=body, headers=caller.auth), 404, "not_found"
            )

    for caller in (owner, adult_on):
        assert (await client.get(f"/api/v1/videos/{vid}", headers=caller.auth)).status_code == 200
        listing = await client.get("/api/v1/videos", params={"user_id": owner.id}, headers=caller.auth)
        assert [v["id"] for v in listing.json()["items"]] == [vid]
        assert (await client.put(f"/api/v1/videos/{vid}/like", headers=caller.auth)).status_code == 200
    # an adult in adult mode sees it but still does not own it
    assert_envelope(
        await client.patch(f"/api/v1/videos/{vid}", json={"title": "x"}, headers=adult_on.auth),
        403,
        "forbidden",
    )


async def test_delete_takes_likes_comments_and_redis_keys_and_refuses_later_writes(
    client: httpx.AsyncClient, database_url: str, redis_url: str
) -> None:
    owner, fan, video = await engaged_video(client)
    vid = video["id"]
    assert (await client.post(f"/api/v1/videos/{vid}/views")).status_code == 202
    assert (
        await client.post(f"/api/v1/videos/{vid}/presence", json={"viewer_id": "watcher-001"})
    ).status_code == 200
    await client.get(f"/api/v1/videos/{vid}")  # caches counters

    assert (await client.delete(f"/api/v1/videos/{vid}", headers=owner.auth)).status_code == 204
    assert_envelope(await client.get(f"/api/v1/videos/{vid}"), 404, "not_found")
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM likes WHERE video_id = $1", vid) == 0
        assert await conn.fetchval("SELECT count(*) FROM comments WHERE video_id = $1", vid) == 0
    finally:
        await conn.close()
    for method, path, body in [
        ("POST", f"/api/v1/videos/{vid}/views", None),
        ("PUT", f"/api/v1/videos/{vid}/like", None),
        ("POST", f"/api/v1/videos/{vid}/comments", {"body": "late"}),
        ("POST", f"/api/v1/videos/{vid}/presence", {"viewer_id": "watcher-001"}),
    ]:
        assert_envelope(await client.request(method, path, json=body, headers=fan.auth), 404, "not_found")
    redis = Redis.from_url(redis_url)
    try:
        left = [k for k in redis.scan_iter(match=f"halo:{{v:{vid}}}:*") if not k.endswith(b":gone")]
        assert left == []
        assert redis.hget("halo:{views}:pending", str(vid)) is None
    finally:
        redis.close()
