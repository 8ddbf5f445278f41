"""A database outage after start-up: /health says down, requests that need it get 503, readiness stays.

Runs against a throwaway PostgreSQL server that the test stops and starts itself.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import RUN_ID
from tests.e2e.conftest import assert_envelope
from tests.support import services
from tests.support.accounts import register_now
from tests.support.polling import poll_until
from tests.support.server import RunningServer, base_env, migrate


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """A Redis database of this module's own: its servers have a database of their own, whose ids
    (videos and users from 1) would meet the other servers' in a shared key space."""
    yield from services.redis_database(f"{RUN_ID}:outage")


def test_database_outage_degrades_then_recovers_without_restart(
    throwaway_postgres: services.ThrowawayPostgres, redis_url: str
) -> None:
    database_url = asyncio.run(services.create_database(throwaway_postgres.url))
    env = base_env(database_url, redis_url, WORKERS="1", DATABASE_TIMEOUT_SECONDS="2")
    migrate(env)
    server = RunningServer(env).start()
    try:
        with httpx.Client(base_url=server.url, timeout=15) as http:
            token = {"Authorization": f"Bearer {register_now(http)[1]}"}
            assert http.get("/api/v1/auth/profile", headers=token).status_code == 200

            throwaway_postgres.stop()
            health = http.get("/health")
            assert health.status_code == 503
            assert health.json()["status"] == "down"
            assert health.json()["checks"]["database"]["status"] == "down"
            started = time.monotonic()
            assert_envelope(http.get("/api/v1/auth/profile", headers=token), 503, "unavailable")
            assert time.monotonic() - started < 10  # bounded, not hanging
            assert http.get("/health/ready").status_code == 200  # not every replica out at once
            assert http.get("/health/live").status_code == 200

            throwaway_postgres.start()
            poll_until(lambda: http.get("/api/v1/auth/profile", headers=token).status_code == 200, 30, 0.2)
            assert http.get("/api/v1/auth/profile", headers=token).status_code == 200
            # /health keeps a result for a second: the "down" of the outage may still be served
            poll_until(lambda: http.get("/health").json()["status"] == "ok", 10, 0.2)
            assert http.get("/health").json()["status"] == "ok"
    finally:
        server.terminate()


def test_during_an_outage_signed_in_callers_read_what_anonymous_ones_can(
    throwaway_postgres: services.ThrowawayPostgres, redis_url: str
) -> None:
    """A caller this worker authenticated lately is known without PostgreSQL: their reads served
    from the cache and Redis answer as an anonymous caller's do. A caller it has not seen still
    gets a 503, a logged-out token is still refused, and writes still need the database."""
    database_url = asyncio.run(services.create_database(throwaway_postgres.url))
    env = base_env(database_url, redis_url, WORKERS="1", DATABASE_TIMEOUT_SECONDS="2")
    migrate(env)
    server = RunningServer(env).start()
    elsewhere = RunningServer(env).start()  # another replica: its callers are not known here
    try:
        with (
            httpx.Client(base_url=server.url, timeout=15) as http,
            httpx.Client(base_url=elsewhere.url, timeout=15) as other_replica,
        ):
            account, token = register_now(http)
            reader = {"Authorization": f"Bearer {token}"}
            unseen = {"Authorization": f"Bearer {register_now(other_replica)[1]}"}
            login = {"email": account["email"], "password": account["password"]}
            ended = {"Authorization": f"Bearer {http.post('/api/v1/auth/login', json=login).json()['token']}"}
            assert http.post("/api/v1/auth/logout", headers=ended).status_code == 204
            made = http.post(
                "/api/v1/videos",
                json={"title": "outage", "stream_url": "https://cdn.example.com/o.m3u8"},
                headers=reader,
            )
            assert made.status_code == 201, made.text
            path = f"/api/v1/videos/{made.json()['id']}"
            assert http.put(f"{path}/like", headers=reader).status_code in (200, 204)
            before = http.get(path, headers=reader)
            assert before.status_code == 200
            assert (before.json()["like_count"], before.json()["viewer"]) == (1, {"liked": True})

            throwaway_postgres.stop()
            read = http.get(path, headers=reader)
            assert read.status_code == 200, read.text
            assert read.json()["title"] == "outage"
            assert read.json()["viewer"] == {"liked": True}
            assert read.json()["like_count"] == 1
            assert http.get(path).status_code == 200  # as for an anonymous caller
            assert_envelope(http.get(path, headers=unseen), 503, "unavailable")
            assert_envelope(http.get(path, headers=ended), 401, "unauthorized")
            assert_envelope(http.delete(f"{path}/like", headers=reader), 503, "unavailable")
            assert_envelope(http.get("/api/v1/auth/profile", headers=reader), 503, "unavailable")

            throwaway_postgres.start()
            poll_until(lambda: http.get(path, headers=unseen).status_code == 200, 30, 0.2)
            assert http.get(path, headers=unseen).status_code == 200
            assert http.delete(f"{path}/like", headers=reader).status_code in (200, 204)
    finally:
        server.terminate()
        elsewhere.terminate()
