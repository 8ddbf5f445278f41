"""Live engagement over WebSockets against the real server: pushes, presence, refusals, closes."""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import signal
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from tests.e2e.conftest import (
    Account,
    assert_envelope,
    create_video,
    eventually,
    make_adult_mode,
    register,
    unique,
)
from tests.support.live import LiveClient, live_url
from tests.support.server import RunningServer, base_env

FIELDS = {"type", "video_id", "view_count", "like_count", "comment_count", "live_viewers"}


def viewer() -> str:
    return unique("viewer-")


async def _engagement(client: httpx.AsyncClient, video_id: int, account: Account | None = None) -> Any:
    response = await client.get(
        f"/api/v1/videos/{video_id}/engagement", headers=account.auth if account else None
    )
    assert response.status_code == 200, response.text
    return response.json()


async def _refused(url: str, headers: dict[str, str] | None = None) -> httpx.Response:
    """The handshake is refused: the HTTP response the WebSocket client got instead."""
    from websockets.asyncio.client import connect

    with pytest.raises(InvalidStatus) as refused:
        await connect(url, additional_headers=headers, open_timeout=10)
    response = refused.value.response
    return httpx.Response(
        response.status_code, headers=dict(response.headers), content=bytes(response.body or b"")
    )


# --- pushes ----------------------------------------------------------------------------------


async def test_first_message_is_the_current_engagement_counting_the_socket_itself(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    owner = await register(client)
    video = await create_video(client, owner)
    await client.post(f"/api/v1/videos/{video['id']}/views")
    async with await LiveClient.open(server.url, video["id"], viewer_id=viewer()) as live:
        first = await live.next()
        assert set(first) == FIELDS
        assert first["type"] == "engagement"
        assert first["video_id"] == video["id"]
        assert (first["view_count"], first["like_count"], first["comment_count"]) == (1, 0, 0)
        message = await live.until(lambda m: m["live_viewers"] == 1)
        assert message["view_count"] == 1
        assert (await _engagement(client, video["id"]))["live_viewers"] == 1


async def test_likes_comments_and_views_sent_anywhere_are_pushed(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    owner, fan = await register(client), await register(client)
    video = await create_video(client, owner)
    base = f"/api/v1/videos/{video['id']}"
    async with await LiveClient.open(server.url, video["id"], viewer_id=viewer()) as live:
        await live.until(lambda m: m["live_viewers"] == 1)
        assert (await client.put(f"{base}/like", headers=fan.auth)).status_code == 200
        await live.until(lambda m: m["like_count"] == 1)
        comment = await client.post(f"{base}/comments", json={"body": "first!"}, headers=fan.auth)
        assert comment.status_code == 201
        await live.until(lambda m: m["comment_count"] == 1)
        assert (await client.post(f"{base}/views")).status_code == 202
        await live.until(lambda m: m["view_count"] == 1)
        assert (await client.delete(f"{base}/like", headers=fan.auth)).status_code == 200
        last = await live.until(lambda m: m["like_count"] == 0)
        assert (last["comment_count"], last["view_count"]) == (1, 1)


async def test_a_burst_of_views_is_coalesced_into_a_few_messages(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    video = await create_video(client, await register(client))
    async with await LiveClient.open(server.url, video["id"], viewer_id=viewer()) as live:
        await live.until(lambda m: m["live_viewers"] == 1)
        received_before = len(live.messages)
        started = time.monotonic()
        url = f"/api/v1/videos/{video['id']}/views"
        for _ in range(10):  # 200 views over about a second
            responses = await asyncio.gather(*(client.post(url) for _ in range(20)))
            assert {r.status_code for r in responses} == {202}
        await live.until(lambda m: m["view_count"] == 200, timeout=10)
        elapsed = time.monotonic() - started
        pushed = len(live.messages) - received_before
        # At most one message per LIVE_UPDATE_INTERVAL_SECONDS (0.25 s), however many views came.
        assert pushed <= elapsed / 0.25 + 2, (pushed, elapsed)


# --- presence ----------------------------------------------------------------------------------


async def test_a_socket_and_a_heartbeat_of_the_same_viewer_are_one_viewer(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    video = await create_video(client, await register(client))
    me = viewer()
    beat = await client.post(f"/api/v1/videos/{video['id']}/presence", json={"viewer_id": me})
    assert beat.json()["live_viewers"] == 1
    async with await LiveClient.open(server.url, video["id"], viewer_id=me) as live:
        first = await live.next()
        assert first["live_viewers"] == 1
        again = await client.post(f"/api/v1/videos/{video['id']}/presence", json={"viewer_id": me})
        assert again.json()["live_viewers"] == 1
        async with await LiveClient.open(server.url, video["id"], viewer_id=viewer()) as other:
            await other.until(lambda m: m["live_viewers"] == 2)
            await live.until(lambda m: m["live_viewers"] == 2)


async def test_an_authenticated_socket_counts_as_its_user_with_the_token_in_header_or_query(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    user = await register(client)
    video = await create_video(client, await register(client))
    presence = f"/api/v1/videos/{video['id']}/presence"
    async with (
        await LiveClient.open(server.url, video["id"], headers=user.auth, viewer_id=viewer()) as by_header,
        await LiveClient.open(server.url, video["id"], access_token=user.token) as by_query,
    ):
        await by_header.until(lambda m: m["live_viewers"] == 1)
        await by_query.until(lambda m: m["live_viewers"] == 1)
        assert (await client.post(presence, headers=user.auth)).json()["live_viewers"] == 1
        assert (await _engagement(client, video["id"]))["live_viewers"] == 1


async def test_closing_the_socket_removes_its_viewer(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    video = await create_video(client, await register(client))
    live = await LiveClient.open(server.url, video["id"], viewer_id=viewer())
    await live.until(lambda m: m["live_viewers"] == 1)
    await live.close()

    async def gone() -> bool:
        return (await _engagement(client, video["id"]))["live_viewers"] == 0

    assert await eventually(gone, timeout=10)


async def test_an_anonymous_socket_without_viewer_id_is_a_viewer_of_its_own(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    video = await create_video(client, await register(client))
    async with (
        await LiveClient.open(server.url, video["id"]) as one,
        await LiveClient.open(server.url, video["id"]) as two,
    ):
        await one.until(lambda m: m["live_viewers"] == 2)
        await two.until(lambda m: m["live_viewers"] == 2)


# --- refusals before the upgrade -----------------------------------------------------------------


async def test_refusals_are_ordinary_errors_before_the_upgrade(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    owner = await register(client, is_adult=True)
    await make_adult_mode(client, owner)
    video = await create_video(client, owner)
    adult = await create_video(client, owner, is_adult_content=True)

    assert_envelope(await _refused(live_url(server.url, 2**62)), 404, "not_found")
    assert_envelope(await _refused(live_url(server.url, adult["id"])), 404, "not_found")
    stranger = await register(client)
    assert_envelope(
        await _refused(live_url(server.url, adult["id"]), headers=stranger.auth), 404, "not_found"
    )
    bad_viewer = await _refused(live_url(server.url, video["id"], viewer_id="no"))
    body = assert_envelope(bad_viewer, 400, "bad_request")
    assert body["details"][0]["field"] == "viewer_id"
    assert_envelope(
        await _refused(live_url(server.url, video["id"], access_token="nope")), 401, "unauthorized"
    )
    assert_envelope(
        await _refused(live_url(server.url, video["id"]), headers={"Authorization": "Bearer nope"}),
        401,
        "unauthorized",
    )

    plain = await client.get(f"/api/v1/videos/{video['id']}/live")  # no Upgrade header
    assert_envelope(plain, 426, "upgrade_required")
    assert plain.headers["upgrade"].lower() == "websocket"
    assert_envelope(await client.get(f"/api/v1/videos/{2**62}/live"), 404, "not_found")

    # ...while the owner, who may see it, is admitted
    async with await LiveClient.open(server.url, adult["id"], headers=owner.auth) as live:
        assert (await live.next())["video_id"] == adult["id"]


# --- closes from the server --------------------------------------------------------------------


async def test_deleting_the_video_closes_its_sockets_with_4404(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    owner = await register(client)
    video = await create_video(client, owner)
    live = await LiveClient.open(server.url, video["id"], viewer_id=viewer())
    await live.next()
    assert (await client.delete(f"/api/v1/videos/{video['id']}", headers=owner.auth)).status_code == 204
    assert await live.closed() == 4404


async def test_hiding_a_video_closes_the_sockets_of_those_who_may_no_longer_see_it(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    owner = await register(client, is_adult=True)
    video = await create_video(client, owner)
    anonymous = await LiveClient.open(server.url, video["id"], viewer_id=viewer())
    async with await LiveClient.open(server.url, video["id"], headers=owner.auth) as own:
        await anonymous.next()
        patched = await client.patch(
            f"/api/v1/videos/{video['id']}", json={"is_adult_content": True}, headers=owner.auth
        )
        assert patched.status_code == 200
        assert await anonymous.closed() == 4404
        # the owner still sees it, and its socket still hears of changes
        await client.post(f"/api/v1/videos/{video['id']}/views", headers=owner.auth)
        await own.until(lambda m: m["view_count"] == 1)


async def test_a_revoked_token_closes_its_socket_with_4401(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    user = await register(client)
    video = await create_video(client, await register(client))
    live = await LiveClient.open(server.url, video["id"], headers=user.auth)
    await live.next()
    assert (await client.post("/api/v1/auth/logout", headers=user.auth)).status_code == 204
    # WS_AUTH_RECHECK_SECONDS is 1 on the test server
    assert await live.closed(timeout=10) == 4401


# --- a small instance of its own: bounds, pings, shutdown ------------------------------------------


def _small_server(database_url: str, redis_url: str) -> RunningServer:
    env = base_env(
        database_url,
        redis_url,
        WORKERS="1",
        WS_MAX_CONNECTIONS="2",
        WS_PING_INTERVAL_SECONDS="1",
        SHUTDOWN_TIMEOUT_SECONDS="60",
    )
    return RunningServer(env).start()


@pytest.fixture(scope="module")
def small(database_url: str, redis_url: str) -> Iterator[RunningServer]:
    running = _small_server(database_url, redis_url)
    yield running
    running.kill()


@pytest.fixture
def doomed(database_url: str, redis_url: str) -> Iterator[RunningServer]:
    """A small instance of the test's own, which it stops."""
    running = _small_server(database_url, redis_url)
    yield running
    running.kill()


async def test_connections_per_instance_are_bounded(small: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=small.url, timeout=30) as client:
        video = await create_video(client, await register(client))
    async with (
        await LiveClient.open(small.url, video["id"]) as one,
        await LiveClient.open(small.url, video["id"]),
    ):
        refused = await _refused(live_url(small.url, video["id"]))
        assert_envelope(refused, 503, "unavailable")
        await one.close()

        async def admitted() -> bool:
            try:
                third = await LiveClient.open(small.url, video["id"])
            except InvalidStatus:
                return False
            await third.close()
            return True

        assert await eventually(admitted, timeout=10)


async def test_the_server_pings_idle_sockets(small: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=small.url, timeout=30) as client:
        video = await create_video(client, await register(client))
    reader, writer = await asyncio.open_connection("127.0.0.1", small.port)
    key = base64.b64encode(secrets.token_bytes(16)).decode()
    writer.write(
        (
            f"GET /api/v1/videos/{video['id']}/live HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    assert head.startswith(b"HTTP/1.1 101")
    opcodes = []
    async with asyncio.timeout(10):  # WS_PING_INTERVAL_SECONDS is 1
        while 0x9 not in opcodes:
            first, length = await reader.readexactly(2)
            size = length & 0x7F
            if size == 126:
                size = int.from_bytes(await reader.readexactly(2), "big")
            await reader.readexactly(size)
            opcodes.append(first & 0x0F)
    assert opcodes[0] == 0x1  # the engagement, as text, then the ping
    writer.close()


async def test_shutdown_closes_sockets_with_1001_and_their_viewers_leave(
    doomed: RunningServer, client: httpx.AsyncClient
) -> None:
    video = await create_video(client, await register(client))
    live = await LiveClient.open(doomed.url, video["id"], viewer_id=viewer())
    await live.until(lambda m: m["live_viewers"] == 1)
    assert doomed.process is not None
    os.kill(doomed.process.pid, signal.SIGTERM)
    assert await live.closed() == 1001
    # SHUTDOWN_TIMEOUT_SECONDS is 60: the open socket must not hold the drain for all of it
    await asyncio.to_thread(doomed.process.wait, 30)
    assert (await _engagement(client, video["id"]))["live_viewers"] == 0  # asked of the other server
