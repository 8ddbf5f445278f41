"""Prometheus metrics of the real `halo serve`, read from its own metrics port."""

from __future__ import annotations

import asyncio
import platform
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import register
from tests.support.metrics import Scrape, declared_families, scrape, scrape_until
from tests.support.server import RunningServer, base_env

PROFILE = "/api/v1/auth/profile"


def _requests(scraped: Scrape, route: str, status: str, method: str = "GET") -> float:
    return scraped.total(
        "http_server_request_duration_seconds_count",
        http_request_method=method,
        http_route=route,
        http_response_status_code=status,
    )


async def _send(url: str, path: str, count: int, *, headers: dict[str, str] | None = None) -> list[int]:
    """`count` GETs over many short connections, so that every worker gets its share."""
    limits = httpx.Limits(max_connections=16, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as http:
        responses = await asyncio.gather(*(http.get(path, headers=headers) for _ in range(count)))
    return [r.status_code for r in responses]


def test_requests_add_up_over_two_workers_in_a_cleaned_directory(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    from prometheus_client.multiprocess import MultiProcessCollector

    # What a previous run left behind must not be counted: the directory is emptied at start.
    stale = tmp_path / "metrics"
    stale.mkdir()
    (stale / "counter_999999.db").write_bytes(b"left over from a previous run")
    env = base_env(database_url, redis_url, WORKERS="2", PROMETHEUS_MULTIPROC_DIR=str(stale))
    server = RunningServer(env).start()
    try:
        assert not (stale / "counter_999999.db").exists()
        before = scrape(server.metrics_url)
        n = 240
        statuses = asyncio.run(_send(server.url, PROFILE, n))
        assert statuses == [401] * n
        # workers publish what they counted every half second: wait for it, generously
        after = scrape_until(
            server.metrics_url,
            lambda s: (
                _requests(s, "/api/v1/auth/profile", "401") - _requests(before, "/api/v1/auth/profile", "401")
                >= n
            ),
        )
        assert _requests(after, "/api/v1/auth/profile", "401") - _requests(
            before, "/api/v1/auth/profile", "401"
        ) == pytest.approx(n)
        # Both workers served some of them, and the endpoint added both up.
        per_worker = []
        for path in stale.glob("histogram_*.db"):
            merged = {m.name: m for m in MultiProcessCollector.merge([str(path)])}
            family = merged.get("http_server_request_duration_seconds")
            per_worker.append(
                sum(
                    s.value
                    for s in (family.samples if family else [])
                    if s.name.endswith("_count") and s.labels.get("http_route") == "/api/v1/auth/profile"
                )
            )
        assert len([count for count in per_worker if count > 0]) == 2, per_worker
        assert sum(per_worker) == pytest.approx(n)
    finally:
        server.terminate()
    assert not list(stale.glob("gauge_live*.db")), "stopped workers leave the live gauges"


async def test_scrape_carries_every_declared_family(server: RunningServer, client: httpx.AsyncClient) -> None:
    account = await register(client)
    assert (await client.get(PROFILE, headers=account.auth)).status_code == 200
    assert (await client.get(PROFILE, headers={"Authorization": "Bearer nope"})).status_code == 401
    # the pool gauges are sampled every few seconds by each worker
    scraped = scrape_until(
        server.metrics_url,
        lambda s: (
            s.total("db_client_connection_max") == 2 * 10 and _requests(s, "/api/v1/auth/profile", "200") >= 1
        ),
    )
    assert scraped.families == declared_families()
    assert scraped.total("db_client_connection_max") == 2 * 10  # DATABASE_POOL_MAX x WORKERS
    assert scraped.value("halo_build_info", version="0.1.0", python_version=platform.python_version()) == 1
    assert scraped.value("http_server_active_requests") is not None
    assert scraped.value("halo_auth_failures_total", reason="malformed") >= 1  # type: ignore[operator]
    assert _requests(scraped, "/api/v1/auth/profile", "200") >= 1


async def test_ids_in_paths_and_unknown_routes_never_become_labels(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    for path in ("/api/v1/videos/123456789", "/api/v1/users/987654321/secret", "/totally-unknown-path"):
        assert (await client.get(path)).status_code == 404
    assert (await client.request("BREW", "/api/v1/auth/profile")).status_code in (400, 404, 405)
    scraped = scrape_until(
        server.metrics_url,
        lambda s: any(("http_route", "unmatched") in labels for _, labels in s.samples),
    )
    routes = {value for _, labels in scraped.samples for key, value in labels if key == "http_route"}
    methods = {
        value for _, labels in scraped.samples for key, value in labels if key == "http_request_method"
    }
    assert "unmatched" in routes
    assert not [r for r in routes if "123456789" in r or "987654321" in r or "totally-unknown" in r]
    assert "_OTHER" in methods
    assert "BREW" not in methods


async def test_metrics_are_not_served_on_the_public_port(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    assert (await client.get("/metrics")).status_code == 404
    assert httpx.get(server.metrics_url.replace("/metrics", "/"), timeout=5).status_code == 404
    assert scrape(server.metrics_url).families


@pytest.fixture
def limited_server(database_url: str, redis_url: str) -> Iterator[RunningServer]:
    env = base_env(database_url, redis_url, WORKERS="1", RATE_LIMIT_RPS="0.1", RATE_LIMIT_BURST="6")
    server = RunningServer(env).start()
    yield server
    server.terminate()


def test_rate_limited_requests_and_auth_failures_by_reason(limited_server: RunningServer) -> None:
    with httpx.Client(base_url=limited_server.url, timeout=10) as http:
        assert http.get(PROFILE).status_code == 401  # missing
        assert http.get(PROFILE, headers={"Authorization": "Basic abc"}).status_code == 401
        assert http.get(PROFILE, headers={"Authorization": "Bearer a.b.c"}).status_code == 401
        login = http.post("/api/v1/auth/login", json={"email": "no@example.com", "password": "password123"})
        assert login.status_code == 401
        statuses = [http.get(PROFILE).status_code for _ in range(5)]
    limited = statuses.count(429)
    assert limited >= 3
    scraped = scrape_until(
        limited_server.metrics_url, lambda s: _requests(s, "/api/v1/auth/profile", "429") >= limited
    )
    assert scraped.value("halo_rate_limited_requests_total") == limited
    assert _requests(scraped, "/api/v1/auth/profile", "429") == limited
    failures = {
        dict(labels)["reason"]: value
        for (name, labels), value in scraped.samples.items()
        if name == "halo_auth_failures_total"
    }
    assert failures["malformed_header"] == 1
    assert failures["malformed"] == 1
    assert failures["bad_credentials"] == 1
    assert failures["missing"] == 5 - limited + 1


def test_requests_in_flight_and_cut_off_by_the_client_settle(database_url: str, redis_url: str) -> None:
    # bcrypt at cost 15 keeps a login busy for a second or two: long enough to be seen in flight
    env = base_env(database_url, redis_url, WORKERS="1", BCRYPT_ROUNDS="15", BCRYPT_THREADS="1")
    server = RunningServer(env).start()
    try:
        body = b'{"email": "slow@example.com", "password": "password123"}'
        request = (
            f"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        clients = [socket.create_connection(("127.0.0.1", server.port), timeout=10) for _ in range(3)]
        for sock in clients:
            sock.sendall(request)
        in_flight = scrape_until(server.metrics_url, lambda s: s.value("http_server_active_requests") == 3)
        assert in_flight.value("http_server_active_requests") == 3
        for sock in clients:  # the clients give up before their answers
            sock.close()
        settled = scrape_until(
            server.metrics_url, lambda s: s.value("http_server_active_requests") == 0, timeout=30
        )
        assert settled.value("http_server_active_requests") == 0
        # a client that gives up is no server error: 499, not a 500 with a stack trace
        assert _requests(settled, "/api/v1/auth/login", "499", method="POST") == 3
        assert _requests(settled, "/api/v1/auth/login", "500", method="POST") == 0
        assert "RequestCancelled" not in server.logs()
    finally:
        server.terminate()


def test_metrics_port_zero_turns_the_endpoint_off(database_url: str, redis_url: str) -> None:
    env = base_env(database_url, redis_url, WORKERS="1", METRICS_PORT="0")
    server = RunningServer(env).start()
    try:
        assert httpx.get(f"{server.url}/health/live", timeout=5).status_code == 200
        assert "metrics on" not in server.logs()
    finally:
        server.terminate()
