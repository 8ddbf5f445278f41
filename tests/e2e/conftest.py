"""End-to-end: the real `halo serve` (2 workers) on a free port, over HTTP."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.support.accounts import post_registration
from tests.support.polling import eventually  # noqa: F401 - the e2e tests import it from here
from tests.support.server import RunningServer, base_env, migrate, serving


@pytest.fixture(scope="session", params=["fast-path", "plain"])
def server(request: pytest.FixtureRequest, database_url: str, redis_url: str) -> Iterator[RunningServer]:
    """The contract holds with the fast path on and off: every test on this server runs on both."""
    env = base_env(
        database_url,
        redis_url,
        WORKERS="2",
        CORS_ORIGINS="https://app.example",
        WS_AUTH_RECHECK_SECONDS="1",
        FAST_PATH="true" if request.param == "fast-path" else "false",
    )
    migrate(env)
    yield from serving(env)


@pytest.fixture
async def client(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=30.0) as http:
        yield http


@dataclass
class Account:
    id: int
    email: str
    username: str
    password: str
    token: str
    body: dict[str, Any]

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def unique(prefix: str = "u") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


async def register(client: httpx.AsyncClient, *, is_adult: bool = False, **fields: Any) -> Account:
    payload, response = await post_registration(client, is_adult=is_adult, **fields)
    assert response.status_code == 201, response.text
    body = response.json()
    return Account(
        body["user"]["id"], payload["email"], payload["username"], payload["password"], body["token"], body
    )


def assert_envelope(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["error"] == code
    assert isinstance(body["message"], str)
    assert body["message"]
    assert body["request_id"] == response.headers["x-request-id"]
    assert set(body) <= {"error", "message", "details", "request_id"}
    return body


async def create_video(client: httpx.AsyncClient, owner: Account, **fields: Any) -> dict[str, Any]:
    payload = {
        "title": fields.pop("title", unique("Video ")),
        "stream_url": "https://cdn.example/v.m3u8",
        **fields,
    }
    response = await client.post("/api/v1/videos", json=payload, headers=owner.auth)
    assert response.status_code == 201, response.text
    return response.json()


async def engaged_video(
    client: httpx.AsyncClient, comment: str = "hi"
) -> tuple[Account, Account, dict[str, Any]]:
    """A video a fan has liked and commented on (`comment`): (owner, fan, video)."""
    owner, fan = await register(client), await register(client)
    video = await create_video(client, owner)
    vid = video["id"]
    assert (await client.put(f"/api/v1/videos/{vid}/like", headers=fan.auth)).status_code == 200
    commented = await client.post(f"/api/v1/videos/{vid}/comments", json={"body": comment}, headers=fan.auth)
    assert commented.status_code == 201, commented.text
    return owner, fan, video


async def make_adult_mode(client: httpx.AsyncClient, account: Account) -> None:
    response = await client.patch("/api/v1/auth/profile", json={"adult_mode": True}, headers=account.auth)
    assert response.status_code == 200, response.text
