"""Runtime behaviour that needs its own server: rate limits, trusted proxies, SIGTERM drain, readiness."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.conftest import assert_envelope
from tests.support.server import RunningServer, base_env, serving


@pytest.fixture
def one_worker_env(database_url: str, redis_url: str) -> dict[str, str]:
    return base_env(database_url, redis_url, WORKERS="1")


@pytest.fixture
def limited_server(one_worker_env: dict[str, str]) -> Iterator[RunningServer]:
    yield from serving({**one_worker_env, "RATE_LIMIT_RPS": "0.5", "RATE_LIMIT_BURST": "3"})


def test_bucket_empties_into_429_with_retry_after(limited_server: RunningServer) -> None:
    with httpx.Client(base_url=limited_server.url) as http:
        statuses = [http.get("/api/v1/auth/profile").status_code for _ in range(3)]
        assert statuses == [401, 401, 401]
        limited = http.get("/api/v1/auth/profile")
        body = assert_envelope(limited, 429, "rate_limited")
        assert body["message"]
        assert int(limited.headers["retry-after"]) >= 1
        assert limited.headers["ratelimit-remaining"] == "0"
        assert limited.headers["ratelimit-limit"] == "3"
        # the same in the IETF form: the bucket of 3 refills in 6 s; empty until at least Retry-After
        assert limited.headers["ratelimit-policy"] == '"default";q=3;w=6'
        until = re.fullmatch(r'"default";r=0;t=(\d+)', limited.headers["ratelimit"])
        assert until, limited.headers["ratelimit"]
        assert int(until.group(1)) >= int(limited.headers["retry-after"])
        # spoofing X-Forwarded-For does not buy a fresh bucket
        assert (
            http.get("/api/v1/auth/profile", headers={"X-Forwarded-For": "198.51.100.23"}).status_code == 429
        )
        # probes are never limited
        assert http.get("/health/live").status_code == 200
        assert http.get("/health/ready").status_code == 200


def test_trusted_proxy_forwards_the_client_address(one_worker_env: dict[str, str]) -> None:
    server = RunningServer(
        {
            **one_worker_env,
            "RATE_LIMIT_RPS": "0.5",
            "RATE_LIMIT_BURST": "1",
            "TRUSTED_PROXIES": "127.0.0.1/32",
        }
    ).start()
    try:
        with httpx.Client(base_url=server.url) as http:
            first = {"X-Forwarded-For": "198.51.100.1"}
            assert http.get("/api/v1/nope", headers=first).status_code == 404
            assert http.get("/api/v1/nope", headers=first).status_code == 429
            # through the trusted proxy, another client has its own bucket
            assert http.get("/api/v1/nope", headers={"X-Forwarded-For": "198.51.100.2"}).status_code == 404
            # a client-supplied hop before the proxy's does not change which address counts
            spoof = {"X-Forwarded-For": "203.0.113.99, 198.51.100.1"}
            assert http.get("/api/v1/nope", headers=spoof).status_code == 429
    finally:
        server.terminate()


async def test_sigterm_turns_readiness_off_then_drains_in_flight_requests(
    database_url: str, redis_url: str
) -> None:
    env = base_env(
        database_url,
        redis_url,
        WORKERS="2",
        BCRYPT_ROUNDS="14",
        SHUTDOWN_DELAY_SECONDS="0.5",
        SHUTDOWN_TIMEOUT_SECONDS="30",
    )
    server = RunningServer(env).start()
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        # slow requests: bcrypt at cost 14 takes about a second each, longer than the delay
        in_flight = [
            asyncio.create_task(
                http.post(
                    "/api/v1/auth/login", json={"email": f"n{i}@example.com", "password": "password123"}
                )
            )
            for i in range(6)
        ]
        await asyncio.sleep(0.1)
        started = time.monotonic()
        server.process.send_signal(15)  # type: ignore[union-attr]
        await asyncio.sleep(0.2)
        async with httpx.AsyncClient(base_url=server.url, timeout=5) as probe:
            ready = await probe.get("/health/ready")
            live = await probe.get("/health/live")
        assert ready.status_code == 503
        assert ready.json()["status"] == "draining"
        assert live.status_code == 200  # still serving during the delay
        results = await asyncio.gather(*in_flight)
        finished = time.monotonic() - started
        assert [r.status_code for r in results] == [401] * 6  # every in-flight request completed
    assert finished > 0.5  # they outlived the delay: the listener closed and they were drained
    code = await asyncio.to_thread(server.process.wait, 40)  # type: ignore[union-attr]
    assert code == 0
    server.process = None


def test_not_ready_until_migrations_are_at_head(postgres_server: str, redis_url: str) -> None:
    from tests.support import services
    from tests.support.server import migrate

    database_url = asyncio.run(services.create_database(postgres_server))
    env = base_env(database_url, redis_url, WORKERS="1")
    server = RunningServer(env).start(wait=False)
    try:
        deadline = time.monotonic() + 30
        seen_503 = False
        while time.monotonic() < deadline and not seen_503:
            try:
                response = httpx.get(f"{server.url}/health/ready", timeout=2)
            except httpx.HTTPError:
                time.sleep(0.1)
                continue
            seen_503 = response.status_code == 503
            if seen_503:
                assert response.json()["status"] == "starting"
                assert httpx.get(f"{server.url}/health/live", timeout=2).status_code == 200
        assert seen_503
        # A request that needs the missing tables: unavailable for now, not a crash.
        early = httpx.post(
            f"{server.url}/api/v1/auth/register",
            json={
                "email": "early@example.com",
                "username": "early_1",
                "password": "password123",
                "display_name": "E",
            },
            timeout=10,
        )
        assert early.status_code == 503, early.text
        assert early.json()["error"] == "unavailable" and early.headers["Retry-After"] == "5"
        migrate(env)
        server.wait_ready(30)
    finally:
        server.terminate()
        asyncio.run(services.drop_database(postgres_server, database_url))


def test_slow_client_gets_a_408_envelope(one_worker_env: dict[str, str]) -> None:
    import json
    import socket

    server = RunningServer({**one_worker_env, "REQUEST_TIMEOUT_SECONDS": "1"}).start()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n")
            data = b""
            while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408")
        assert json.loads(body)["error"] == "request_timeout"
        with httpx.Client(base_url=server.url) as http:  # and the server is fine
            assert http.get("/health/live").status_code == 200
    finally:
        server.terminate()
