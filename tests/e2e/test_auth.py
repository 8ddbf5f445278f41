"""Users and auth over HTTP, exactly as API.md describes them."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx
from redis import Redis

from tests.e2e.conftest import Account, assert_envelope, register, unique
from tests.support import jwt_forge
from tests.support.server import RunningServer

USER_FIELDS = {
    "id",
    "email",
    "username",
    "display_name",
    "bio",
    "avatar_url",
    "is_adult",
    "adult_mode",
    "created_at",
    "updated_at",
}


async def test_register_returns_token_and_user(client: httpx.AsyncClient) -> None:
    name = unique("Mixed")
    response = await client.post(
        "/api/v1/auth/register",
        json={
            "email": f"{name}@Example.COM",
            "username": name,
            "password": "password123",
            "display_name": "Ada",
        },
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"token", "token_type", "expires_in", "user"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] > 0
    user = body["user"]
    assert set(user) == USER_FIELDS
    assert user["email"] == f"{name}@example.com".lower()
    assert user["username"] == name  # case kept as given
    assert user["is_adult"] is False
    assert user["adult_mode"] is False
    assert user["bio"] is None
    assert user["avatar_url"] is None
    assert user["created_at"].endswith("Z")


async def test_login_returns_the_same_shape(client: httpx.AsyncClient) -> None:
    account = await register(client)
    response = await client.post(
        "/api/v1/auth/login", json={"email": account.email.upper(), "password": account.password}
    )
    assert response.status_code == 200
    assert set(response.json()) == {"token", "token_type", "expires_in", "user"}
    assert response.json()["user"]["id"] == account.id


async def test_bad_credentials_all_look_the_same(client: httpx.AsyncClient) -> None:
    account = await register(client)
    attempts = [
        {"email": account.email, "password": "wrong-password"},
        {"email": f"{unique()}@example.com", "password": "password123"},
        {"email": account.email, "password": account.password + "x" * 80},
    ]
    bodies = []
    for attempt in attempts:
        response = await client.post("/api/v1/auth/login", json=attempt)
        body = assert_envelope(response, 401, "unauthorized")
        body.pop("request_id")
        bodies.append(body)
    assert bodies[0] == bodies[1] == bodies[2]


async def test_validation_errors_name_their_fields(client: httpx.AsyncClient) -> None:
    good = {
        "email": f"{unique()}@example.com",
        "username": unique(),
        "password": "password123",
        "display_name": "A",
    }
    cases = {
        "email": {**good, "email": "not-an-email"},
        "username": {**good, "username": "ab"},
        "password": {**good, "password": "short"},
        "display_name": {**good, "display_name": ""},
        "is_adult": {**good, "is_adult": "yes"},
        "surprise": {**good, "surprise": 1},
    }
    for field, payload in cases.items():
        response = await client.post("/api/v1/auth/register", json=payload)
        body = assert_envelope(response, 422, "validation_failed")
        assert field in [d["field"] for d in body["details"]], (field, body)
    too_long = {**good, "password": "é" * 37}  # 74 bytes
    body = assert_envelope(
        await client.post("/api/v1/auth/register", json=too_long), 422, "validation_failed"
    )
    assert body["details"][0]["field"] == "password"
    bad_chars = {**good, "username": "has space"}
    assert_envelope(await client.post("/api/v1/auth/register", json=bad_chars), 422, "validation_failed")
    nul = {**good, "display_name": "a\u0000b"}
    assert_envelope(await client.post("/api/v1/auth/register", json=nul), 422, "validation_failed")


async def test_malformed_bodies_are_bad_requests(client: httpx.AsyncClient) -> None:
    url = "/api/v1/auth/register"
    assert_envelope(
        await client.post(url, content=b"{not json", headers={"content-type": "application/json"}),
        400,
        "bad_request",
    )
    assert_envelope(
        await client.post(url, content=b"email=a", headers={"content-type": "text/plain"}), 400, "bad_request"
    )
    assert_envelope(
        await client.post(url, content=b"\xff\xfe", headers={"content-type": "application/json"}),
        400,
        "bad_request",
    )
    deep = b"[" * 100_000 + b"]" * 100_000
    assert_envelope(
        await client.post(url, content=deep, headers={"content-type": "application/json"}), 400, "bad_request"
    )
    body = assert_envelope(await client.post(url, json=[1, 2]), 422, "validation_failed")
    assert body["details"][0]["field"] == "body"


async def test_taken_email_and_username_conflict(client: httpx.AsyncClient) -> None:
    account = await register(client)
    same_email = {
        "email": account.email.upper(),
        "username": unique(),
        "password": "password123",
        "display_name": "B",
    }
    body = assert_envelope(await client.post("/api/v1/auth/register", json=same_email), 409, "conflict")
    assert [d["field"] for d in body["details"]] == ["email"]
    same_name = {
        "email": f"{unique()}@example.com",
        "username": account.username.upper(),
        "password": "password123",
        "display_name": "B",
    }
    body = assert_envelope(await client.post("/api/v1/auth/register", json=same_name), 409, "conflict")
    assert [d["field"] for d in body["details"]] == ["username"]


async def test_concurrent_registration_of_one_username_over_http(client: httpx.AsyncClient) -> None:
    name = unique("dup")
    payloads = [
        {
            "email": f"{unique()}@example.com",
            "username": name,
            "password": "password123",
            "display_name": "A",
        },
        {
            "email": f"{unique()}@example.com",
            "username": name.upper(),
            "password": "password123",
            "display_name": "B",
        },
    ]
    responses = await asyncio.gather(*(client.post("/api/v1/auth/register", json=p) for p in payloads))
    assert sorted(r.status_code for r in responses) == [201, 409]


async def test_profile_get_and_patch(client: httpx.AsyncClient) -> None:
    account = await register(client)
    response = await client.get("/api/v1/auth/profile", headers=account.auth)
    assert response.status_code == 200
    assert response.json()["user"]["id"] == account.id

    response = await client.patch(
        "/api/v1/auth/profile",
        headers=account.auth,
        json={"display_name": "New Name", "bio": "hello", "avatar_url": "https://cdn.example/a.png"},
    )
    user = response.json()["user"]
    assert response.status_code == 200
    assert (user["display_name"], user["bio"], user["avatar_url"]) == (
        "New Name",
        "hello",
        "https://cdn.example/a.png",
    )

    response = await client.patch("/api/v1/auth/profile", headers=account.auth, json={"bio": None})
    user = response.json()["user"]
    assert user["bio"] is None
    assert user["display_name"] == "New Name"


async def test_profile_patch_rules(client: httpx.AsyncClient) -> None:
    account = await register(client)
    url = "/api/v1/auth/profile"
    assert_envelope(
        await client.patch(url, headers=account.auth, json={"display_name": None}), 422, "validation_failed"
    )
    assert_envelope(
        await client.patch(url, headers=account.auth, json={"avatar_url": "ftp://x/y"}),
        422,
        "validation_failed",
    )
    assert_envelope(
        await client.patch(url, headers=account.auth, json={"bio": "x" * 501}), 422, "validation_failed"
    )
    for field in ("is_adult", "id", "email"):
        body = assert_envelope(
            await client.patch(url, headers=account.auth, json={field: True}), 422, "validation_failed"
        )
        assert body["details"][0]["field"] == field
    assert_envelope(
        await client.patch(url, headers=account.auth, json={"adult_mode": True}), 403, "forbidden"
    )
    adult = await register(client, is_adult=True)
    response = await client.patch(url, headers=adult.auth, json={"adult_mode": True})
    assert response.status_code == 200
    assert response.json()["user"]["adult_mode"] is True


async def test_profile_needs_a_token(client: httpx.AsyncClient) -> None:
    assert_envelope(await client.get("/api/v1/auth/profile"), 401, "unauthorized")
    assert_envelope(
        await client.get("/api/v1/auth/profile", headers={"Authorization": "Basic abc"}), 401, "unauthorized"
    )
    assert_envelope(
        await client.get("/api/v1/auth/profile", headers={"Authorization": "Bearer"}), 401, "unauthorized"
    )


async def test_every_tampered_token_is_refused(client: httpx.AsyncClient, server: RunningServer) -> None:
    account = await register(client)
    secret = server.env["JWT_SECRET"]
    valid = jwt_forge.sign(jwt_forge.claims(account.id), secret)
    assert (
        await client.get("/api/v1/auth/profile", headers={"Authorization": f"Bearer {valid}"})
    ).status_code == 200
    for case, token in jwt_forge.tampering_cases(account.id, secret).items():
        headers = {"Authorization": f"Bearer {token}"}
        response = await client.get("/api/v1/auth/profile", headers=headers)
        assert response.status_code == 401, case
        # also where no authentication is needed at all
        response = await client.post(
            "/api/v1/auth/login", headers=headers, json={"email": account.email, "password": account.password}
        )
        assert response.status_code == 401, case


async def test_token_of_a_deleted_user_is_refused(client: httpx.AsyncClient, database_url: str) -> None:
    account = await register(client)
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("DELETE FROM users WHERE id = $1", account.id)
    finally:
        await conn.close()
    assert_envelope(await client.get("/api/v1/auth/profile", headers=account.auth), 401, "unauthorized")


async def _profile_statuses(server: RunningServer, account: Account, times: int = 8) -> set[int]:
    statuses = set()
    for _ in range(times):  # fresh connections land on both workers
        async with httpx.AsyncClient(base_url=server.url) as fresh:
            statuses.add((await fresh.get("/api/v1/auth/profile", headers=account.auth)).status_code)
    return statuses


async def test_logout_revokes_on_every_worker_also_after_redis_is_flushed(
    client: httpx.AsyncClient, server: RunningServer, redis_url: str, redis_owner: str
) -> None:
    account = await register(client)
    assert await _profile_statuses(server, account) == {200}
    response = await client.post("/api/v1/auth/logout", headers=account.auth)
    assert response.status_code == 204
    assert response.content == b""
    assert await _profile_statuses(server, account) == {401}
    redis = Redis.from_url(redis_url)
    try:
        redis.flushdb()
        redis.set("halo-test:lock", redis_owner)
    finally:
        redis.close()
    assert await _profile_statuses(server, account) == {401}
    other = await register(client)  # other tokens keep working
    assert await _profile_statuses(server, other) == {200}
