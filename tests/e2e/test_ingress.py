"""Behind a real ingress: who the client is, and the per-client abuse limits (contract v1.1)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.conftest import Account, assert_envelope, register, unique
from tests.support.accounts import post_registration
from tests.support.server import RunningServer, base_env, serving
from tests.support.services import ThrowawayRedis


async def register_at(url: str, **fields: object) -> Account:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        return await register(client, **fields)


@pytest.fixture(scope="module")
def proxied(database_url: str, redis_url: str) -> Iterator[RunningServer]:
    env = base_env(
        database_url,
        redis_url,
        WORKERS="2",
        TRUSTED_PROXIES="127.0.0.1/32",
        RATE_LIMIT_BACKEND="redis",
        RATE_LIMIT_RPS="0.1",
        RATE_LIMIT_BURST="4",
        REGISTER_MAX_PER_IP="3",
    )
    yield from serving(env)


def forwarded(*lines: str) -> list[tuple[str, str]]:
    return [("X-Forwarded-For", line) for line in lines]


def prefix_64() -> str:
    """A fresh documentation /64 (2001:db8::/32), so runs never share buckets."""
    return f"2001:db8:{unique('')[:4]}:{unique('')[:4]}"


async def test_every_forwarded_for_line_counts_from_the_right(proxied: RunningServer) -> None:
    client = f"198.51.100.{int(unique('')[:2], 16)}"
    async with httpx.AsyncClient(base_url=proxied.url) as http:
        statuses = [(await http.get("/api/v1/nope", headers=forwarded(client))).status_code for _ in range(4)]
        assert statuses == [404] * 4
        # The client's own line comes first; the proxy appended the real address on a line of its own.
        spoofed = await http.get("/api/v1/nope", headers=forwarded("203.0.113.250", client))
        assert_envelope(spoofed, 429, "rate_limited")


async def test_ipv6_clients_of_one_64_share_a_bucket(proxied: RunningServer) -> None:
    prefix = prefix_64()
    async with httpx.AsyncClient(base_url=proxied.url) as http:
        hosts = [f"{prefix}::{n:x}" for n in range(1, 5)] + [f"{prefix}:ffff:ffff:ffff:ffff"]
        results = await asyncio.gather(*(http.get("/api/v1/nope", headers=forwarded(h)) for h in hosts))
        assert sorted(r.status_code for r in results) == [404] * 4 + [429]
        other = await http.get("/api/v1/nope", headers=forwarded(f"{prefix_64()}::1"))
        assert other.status_code == 404  # the next /64 is another client


async def test_registrations_beyond_the_limit_per_client_get_429_at_once(proxied: RunningServer) -> None:
    prefix = prefix_64()

    async def register(n: int) -> httpx.Response:
        # one client: addresses of one /64 (the rate limit is per client too: burst 4 is enough)
        _, response = await post_registration(http, headers=dict(forwarded(f"{prefix}::{n + 1:x}")))
        return response

    async with httpx.AsyncClient(base_url=proxied.url, timeout=30) as http:
        results = await asyncio.gather(*(register(n) for n in range(4)))
        assert sorted(r.status_code for r in results) == [201, 201, 201, 429]
        refused = next(r for r in results if r.status_code == 429)
        assert_envelope(refused, 429, "rate_limited")
        assert 1 <= int(refused.headers["retry-after"]) <= 3600


@pytest.fixture(scope="module")
def saturated(database_url: str, redis_url: str) -> Iterator[RunningServer]:
    env = base_env(
        database_url, redis_url, WORKERS="1", BCRYPT_ROUNDS="12", BCRYPT_THREADS="1", PASSWORD_QUEUE_MAX="1"
    )
    yield from serving(env)


async def test_a_full_hashing_queue_answers_503_with_retry_after_at_once(saturated: RunningServer) -> None:
    async def register() -> httpx.Response:
        _, response = await post_registration(http)
        return response

    async with httpx.AsyncClient(base_url=saturated.url, timeout=60) as http:
        results = await asyncio.gather(*(register() for _ in range(8)))
        statuses = sorted(r.status_code for r in results)
        assert statuses.count(201) >= 2 and statuses.count(503) >= 1, statuses
        busy = next(r for r in results if r.status_code == 503)
        assert_envelope(busy, 503, "unavailable")
        assert int(busy.headers["retry-after"]) >= 1
        # Refused at once: long before the admitted hashes (cost 12, one thread) are all done.
        assert busy.elapsed.total_seconds() < max(r.elapsed.total_seconds() for r in results)


def test_the_metrics_listener_binds_metrics_host(database_url: str, redis_url: str) -> None:
    server = RunningServer(base_env(database_url, redis_url, WORKERS="1", METRICS_HOST="127.0.0.2")).start()
    try:
        assert httpx.get(f"http://127.0.0.2:{server.metrics_port}/metrics").status_code == 200
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{server.metrics_port}/metrics")
    finally:
        server.terminate()


async def test_an_adult_flag_reaches_a_worker_that_missed_its_notice(
    database_url: str, redis_url: str, throwaway_redis: ThrowawayRedis
) -> None:
    """The second server is cut off from the first one's Redis: it hears no change notice and
    reads no change mark, so only its cache TTL bounds how long it shows the video (with one
    shared Redis, a missed notice is caught at once by the change mark: tests/unit/services)."""
    writer = RunningServer(base_env(database_url, redis_url, WORKERS="1")).start(wait=False)
    deaf = RunningServer(
        base_env(database_url, throwaway_redis.url, WORKERS="1", VIDEO_CACHE_TTL_SECONDS="2")
    ).start(wait=False)
    try:
        writer.wait_ready()
        deaf.wait_ready()
        async with httpx.AsyncClient(timeout=30) as http:
            owner = await register_at(writer.url, is_adult=True)
            created = await http.post(
                f"{writer.url}/api/v1/videos", json={"title": "soon adult"}, headers=owner.auth
            )
            path = f"/api/v1/videos/{created.json()['id']}"
            assert (await http.get(f"{deaf.url}{path}")).status_code == 200  # cached there now
            flagged = await http.patch(
                f"{writer.url}{path}", json={"is_adult_content": True}, headers=owner.auth
            )
            assert flagged.status_code == 200
            flagged_at = time.monotonic()
            while (await http.get(f"{deaf.url}{path}")).status_code != 404:
                assert time.monotonic() - flagged_at < 15, "an adult video stayed visible"
                await asyncio.sleep(0.2)
    finally:
        writer.terminate()
        deaf.terminate()


@pytest.fixture(scope="module")
def local_buckets(database_url: str, redis_url: str) -> Iterator[RunningServer]:
    """The default backend (`local`) on two workers: the bucket is still one per client for the instance."""
    env = base_env(database_url, redis_url, WORKERS="2", RATE_LIMIT_RPS="0.01", RATE_LIMIT_BURST="8")
    yield from serving(env)


async def test_requests_at_once_on_both_workers_share_the_clients_bucket(
    local_buckets: RunningServer,
) -> None:
    for round_number, source in enumerate(("127.0.0.61", "127.0.0.62", "127.0.0.63")):
        # A connection per request, all opened at once: they land on either worker.
        transport = httpx.AsyncHTTPTransport(local_address=source)
        limits = httpx.Limits(max_connections=40, max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=local_buckets.url, transport=transport, limits=limits) as http:
            answers = await asyncio.gather(*(http.get("/api/v1") for _ in range(40)))
        statuses = sorted(answer.status_code for answer in answers)
        assert statuses == [200] * 8 + [429] * 32, (round_number, statuses)  # the burst, not one per worker
        limited = [answer for answer in answers if answer.status_code == 429]
        assert all(int(answer.headers["Retry-After"]) >= 1 for answer in limited)
