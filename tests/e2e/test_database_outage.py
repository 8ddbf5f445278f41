"""A database outage after start-up: /health says down, requests that need it get 503, readiness stays.

Runs against a throwaway PostgreSQL server that the test stops and starts itself.
"""

from __future__ import annotations

import asyncio
import time

import httpx

from tests.e2e.conftest import assert_envelope
from tests.support import services
from tests.support.accounts import register_now
from tests.support.polling import poll_until
from tests.support.server import RunningServer, base_env, migrate


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
