"""Live sockets behind an ingress: a cap per client, the token out of the URL, logouts heard fleet-wide."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.e2e.conftest import create_video, register
from tests.support.live import LiveClient, live_url
from tests.support.metrics import scrape_until
from tests.support.server import RunningServer, base_env, serving, serving_pair


@pytest.fixture(scope="module")
def pair(database_url: str, redis_url: str) -> Iterator[tuple[RunningServer, RunningServer]]:
    env = base_env(
        database_url,
        redis_url,
        WORKERS="1",
        WS_MAX_CONNECTIONS_PER_IP="3",
        TRUSTED_PROXIES="127.0.0.1/32",  # only for X-Forwarded-For from 127.0.0.1; other peers are themselves
        WS_AUTH_RECHECK_SECONDS="600",  # so only the logout notice can close a socket in time
    )
    yield from serving_pair(env)


async def open_socket(url: str, **options: object) -> LiveClient:
    return LiveClient(await connect(url, open_timeout=10, **options))  # type: ignore[arg-type]


async def test_one_client_opening_more_sockets_than_its_cap_at_once_gets_429(
    pair: tuple[RunningServer, RunningServer],
) -> None:
    first, _ = pair
    async with httpx.AsyncClient(base_url=first.url, timeout=30) as client:
        video = await create_video(client, await register(client))
    url = live_url(first.url, video["id"])
    source = {"local_addr": ("127.0.0.77", 0)}
    results = await asyncio.gather(*(open_socket(url, **source) for _ in range(4)), return_exceptions=True)
    opened = [r for r in results if isinstance(r, LiveClient)]
    refused = [r for r in results if isinstance(r, InvalidStatus)]
    try:
        assert len(opened) == 3, results
        assert len(refused) == 1 and refused[0].response.status_code == 429
        assert refused[0].response.headers.get("Retry-After")
        other = await open_socket(url, local_addr=("127.0.0.78", 0))  # another client is not affected
        await other.close()
        await opened[0].close()
        await asyncio.sleep(0.3)
        again = await open_socket(url, **source)  # a closed socket frees its place
        await again.close()
    finally:
        for live in opened:
            await live.close()


@pytest.fixture(scope="module")
def two_workers(database_url: str, redis_url: str) -> Iterator[RunningServer]:
    """One instance of two workers: its caps are the instance's, whichever worker a socket lands on."""
    env = base_env(
        database_url, redis_url, WORKERS="2", WS_MAX_CONNECTIONS_PER_IP="3", WS_MAX_CONNECTIONS="5"
    )
    yield from serving(env)


async def _open_at_once(url: str, count: int, sources: list[str]) -> tuple[list[LiveClient], list[int]]:
    async def one(n: int) -> LiveClient | int:
        try:
            return await open_socket(url, local_addr=(sources[n % len(sources)], 0))
        except InvalidStatus as refused:
            return refused.response.status_code

    results = await asyncio.gather(*(one(n) for n in range(count)))
    return [r for r in results if isinstance(r, LiveClient)], [r for r in results if isinstance(r, int)]


async def _sockets_open(server: RunningServer, count: int) -> None:
    """Wait (15 s at most) until the instance counts `count` open sockets: a closed socket's place is
    given back just before the count drops."""
    scraped = await asyncio.to_thread(
        scrape_until, server.metrics_url, lambda s: s.value("halo_websocket_connections") == count
    )
    assert scraped.value("halo_websocket_connections") == count


async def _close(server: RunningServer, sockets: list[LiveClient]) -> None:
    await _sockets_open(server, len(sockets))  # every one joined (the handshake comes first)
    for live in sockets:
        await live.close()
    await _sockets_open(server, 0)


async def test_the_caps_hold_for_the_instance_across_its_workers(two_workers: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=two_workers.url, timeout=30) as client:
        video = await create_video(client, await register(client))
    url = live_url(two_workers.url, video["id"])
    for _ in range(4):  # connections land on either worker, unevenly: each round spreads them anew
        opened, refused = await _open_at_once(url, 7, ["127.0.0.91"])
        try:
            assert (len(opened), sorted(refused)) == (3, [429] * 4)  # not 2 (one worker's half) nor 4
        finally:
            await _close(two_workers, opened)
    opened, refused = await _open_at_once(url, 8, [f"127.0.0.{n}" for n in range(92, 100)])  # 8 clients
    try:
        assert (len(opened), sorted(refused)) == (5, [503] * 3)  # WS_MAX_CONNECTIONS for the instance
    finally:
        await _close(two_workers, opened)
    again, refused = await _open_at_once(url, 5, [f"127.0.0.{n}" for n in range(92, 97)])  # all given back
    await _close(two_workers, again)
    assert (len(again), refused) == (5, [])


async def test_the_cap_counts_an_ipv6_64_as_one_client(pair: tuple[RunningServer, RunningServer]) -> None:
    first, _ = pair
    async with httpx.AsyncClient(base_url=first.url, timeout=30) as client:
        video = await create_video(client, await register(client))
    url = live_url(first.url, video["id"])
    prefix = f"2001:db8:{uuid.uuid4().hex[:4]}:{uuid.uuid4().hex[:4]}"

    def behind_the_proxy(address: str) -> dict[str, object]:
        return {"additional_headers": {"X-Forwarded-For": address}, "local_addr": ("127.0.0.1", 0)}

    hosts = [f"{prefix}::{n:x}" for n in range(1, 4)] + [f"{prefix}:ffff:ffff:ffff:ffff"]
    results = await asyncio.gather(
        *(open_socket(url, **behind_the_proxy(host)) for host in hosts), return_exceptions=True
    )
    opened = [r for r in results if isinstance(r, LiveClient)]
    refused = [r for r in results if isinstance(r, InvalidStatus)]
    try:
        assert len(opened) == 3, results
        assert len(refused) == 1 and refused[0].response.status_code == 429
        another_64 = f"2001:db8:{uuid.uuid4().hex[:4]}::1"
        other = await open_socket(url, **behind_the_proxy(another_64))  # another client is not affected
        await other.close()
    finally:
        for live in opened:
            await live.close()


async def test_the_token_may_come_as_a_subprotocol_and_bearer_is_echoed(
    pair: tuple[RunningServer, RunningServer],
) -> None:
    first, _ = pair
    async with httpx.AsyncClient(base_url=first.url, timeout=30) as client:
        owner = await register(client, is_adult=True)
        video = await create_video(client, owner, is_adult_content=True)  # visible to its owner only
    url = live_url(first.url, video["id"])
    with pytest.raises(InvalidStatus) as anonymous:
        await open_socket(url, local_addr=("127.0.0.79", 0))
    assert anonymous.value.response.status_code == 404
    live = await open_socket(url, subprotocols=["bearer", owner.token], local_addr=("127.0.0.79", 0))
    try:
        assert live.connection.subprotocol == "bearer"  # what browsers require to accept the socket
        assert (await live.next())["video_id"] == video["id"]
    finally:
        await live.close()


async def test_a_logout_on_one_replica_closes_the_tokens_sockets_on_another(
    pair: tuple[RunningServer, RunningServer],
) -> None:
    first, second = pair
    async with httpx.AsyncClient(base_url=first.url, timeout=30) as client:
        user = await register(client)
        video = await create_video(client, await register(client))
        live = await open_socket(
            live_url(second.url, video["id"]),
            subprotocols=["bearer", user.token],
            local_addr=("127.0.0.80", 0),
        )
        await live.next()
        assert (await client.post("/api/v1/auth/logout", headers=user.auth)).status_code == 204
    assert await live.closed(timeout=5) == 4401  # a few seconds: the notice, not the 600 s re-check


async def test_a_token_in_the_query_still_works_and_never_reaches_the_logs(
    pair: tuple[RunningServer, RunningServer],
) -> None:
    first, _ = pair
    async with httpx.AsyncClient(base_url=first.url, timeout=30) as client:
        owner = await register(client, is_adult=True)
        video = await create_video(client, owner, is_adult_content=True)  # visible to its owner only
    for name in ("access_token", "token"):
        live = await open_socket(live_url(first.url, video["id"], **{name: owner.token}))
        try:
            assert (await live.next())["video_id"] == video["id"]
        finally:
            await live.close()
    await asyncio.sleep(0.5)  # the access line is written
    logs = first.logs()
    assert f"/api/v1/videos/{video['id']}/live" in logs or "<video_id:int>/live" in logs
    assert owner.token not in logs
