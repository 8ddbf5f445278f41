"""HALO behind a real PgBouncer in transaction pooling mode (DATABASE_POOLER=pgbouncer).

PgBouncer (Debian's, 1.18: no prepared-statement support) is started by the test on a free
port with 3 server connections to a fresh database, so that the 2 workers' 8 pooled client
connections take turns on them and consecutive transactions of one client connection run on
different server connections. Migrations take a session-level advisory lock, which a transaction
pooler cannot hold: `halo migrate` refuses to run through it and runs on DATABASE_MIGRATION_URL, a
direct connection. Then the contract's main paths run concurrently and every answer is checked;
readiness (migrations at head) is asked through the pooler.
Without DATABASE_POOLER=pgbouncer (asyncpg's statement cache on), requests fail with
"prepared statement __asyncpg_stmt_N__ does not exist".
"""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from halo.db.database import MIGRATION_LOCK_KEY
from tests.conftest import RUN_ID
from tests.e2e.conftest import Account, eventually, register, unique
from tests.support import services
from tests.support.pgbouncer import PgBouncer, running_pgbouncer
from tests.support.server import HALO, RunningServer, base_env

ACCOUNTS = 6
VIDEOS_EACH = 3
VIEWS_EACH = 20


@pytest.fixture(scope="module")
async def fresh_database(postgres_server: str) -> AsyncIterator[str]:
    """An empty database (not migrated: the migrations run through the pooler here)."""
    url = await services.create_database(postgres_server)
    yield url
    await services.drop_database(postgres_server, url)


@pytest.fixture(scope="module")
def pgbouncer(postgres_server: str, fresh_database: str) -> Iterator[PgBouncer]:
    yield from running_pgbouncer(postgres_server, fresh_database, pool_size=3)


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """A Redis database of this module's own: its server has a database of its own, whose ids
    would meet the other servers' in a shared key space (and whose pending views another
    server's flusher would take into its own database)."""
    yield from services.redis_database(f"{RUN_ID}:pgbouncer")


@pytest.fixture(scope="module")
def pooled_env(pgbouncer: PgBouncer, redis_url: str) -> dict[str, str]:
    return base_env(
        pgbouncer.url,
        redis_url,
        WORKERS="2",
        DATABASE_POOL_MIN="1",
        DATABASE_POOL_MAX="4",
        DATABASE_POOLER="pgbouncer",
        DATABASE_TIMEOUT_SECONDS="20",  # 8 client connections share 3 server connections
    )


async def _migration_locks_held(direct_url: str) -> Any:
    return await services.db_value(
        direct_url,
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = $1"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        MIGRATION_LOCK_KEY,
    )


def _migrate(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*HALO, "migrate", "--lock-timeout", "60"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


@pytest.fixture(scope="module")
def migrated(pooled_env: dict[str, str], fresh_database: str) -> dict[str, str]:
    """Behind the pooler, `halo migrate` refuses to run without DATABASE_MIGRATION_URL (its lock is a
    session's); with it, two runs at once apply each migration once and leave no lock behind."""
    refused = _migrate(pooled_env)
    output = refused.communicate(timeout=120)[0].decode()
    assert refused.returncode == 1, output
    assert "DATABASE_MIGRATION_URL" in output and "applied" not in output, output

    direct = {**pooled_env, "DATABASE_MIGRATION_URL": fresh_database}
    runs = [_migrate(direct) for _ in range(2)]
    outputs = [run.communicate(timeout=120)[0].decode() for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    applied = [line for output in outputs for line in output.splitlines() if line.startswith("applied ")]
    assert applied, outputs
    assert len(applied) == len(set(applied)), outputs  # each migration applied by one run only
    assert asyncio.run(_migration_locks_held(fresh_database)) == 0
    return pooled_env


@pytest.fixture(scope="module")
def pooled_server(migrated: dict[str, str]) -> Iterator[RunningServer]:
    server = RunningServer(migrated).start()
    yield server
    server.terminate()


class Recorder:
    """An HTTP client that keeps every response, so the test can say none was a 5xx."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.responses: list[httpx.Response] = []

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        response = await self.http.request(method, url, **kwargs)
        self.responses.append(response)
        return response

    def server_errors(self) -> list[str]:
        return [
            f"{r.request.method} {r.request.url.path}: {r.status_code} {r.text[:200]}"
            for r in self.responses
            if r.status_code >= 500
        ]


async def _pages(recorder: Recorder, url: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await recorder.request("GET", url, params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items


async def test_the_main_paths_run_concurrently_through_transaction_pooling(
    pooled_server: RunningServer, fresh_database: str, pgbouncer: PgBouncer
) -> None:
    async with httpx.AsyncClient(base_url=pooled_server.url, timeout=60.0) as http:
        recorder = Recorder(http)

        # register and log in, all at once
        accounts: list[Account] = list(await asyncio.gather(*(register(http) for _ in range(ACCOUNTS))))
        logins = await asyncio.gather(
            *(
                recorder.request(
                    "POST", "/api/v1/auth/login", json={"email": a.email, "password": a.password}
                )
                for a in accounts
            )
        )
        assert [r.status_code for r in logins] == [200] * ACCOUNTS, [r.text for r in logins]
        assert [r.json()["user"]["id"] for r in logins] == [a.id for a in accounts]

        # each account creates its videos at once; one create is sent three times with one Idempotency-Key
        async def create(owner: Account, key: str | None = None) -> httpx.Response:
            headers = {**owner.auth, **({"Idempotency-Key": key} if key else {})}
            body = {"title": unique("Pooled "), "stream_url": "https://cdn.example/p.m3u8"}
            if key:
                body["title"] = f"Idempotent {key}"
            return await recorder.request("POST", "/api/v1/videos", json=body, headers=headers)

        creates = await asyncio.gather(*(create(a) for a in accounts for _ in range(VIDEOS_EACH)))
        assert [r.status_code for r in creates] == [201] * len(creates), [r.text for r in creates]
        key = f"key-{uuid.uuid4()}"
        repeated = await asyncio.gather(*(create(accounts[0], key) for _ in range(3)))
        assert {r.status_code for r in repeated} <= {201, 409}, [r.text for r in repeated]
        assert len({r.json()["id"] for r in repeated if r.status_code == 201}) == 1
        videos = [r.json() for r in creates]
        by_owner: dict[int, set[int]] = {a.id: set() for a in accounts}
        for video in videos:
            by_owner[video["user_id"]].add(video["id"])
        by_owner[accounts[0].id].add(next(r.json()["id"] for r in repeated if r.status_code == 201))

        # list pages with cursors (per owner, and the whole catalogue), all at once
        listings = await asyncio.gather(
            *(_pages(recorder, "/api/v1/videos", {"user_id": a.id, "limit": 2}) for a in accounts),
            _pages(recorder, "/api/v1/videos", {"limit": 4}),
        )
        for account, listing in zip(accounts, listings, strict=False):
            assert {v["id"] for v in listing} == by_owner[account.id]
            assert len(listing) == len(by_owner[account.id])  # no page repeats an item
        assert {v["id"] for v in listings[-1]} == set().union(*by_owner.values())

        # likes from every account on every video, then half unlike, all at once
        async def like(method: str, video: dict[str, Any], account: Account) -> httpx.Response:
            return await recorder.request(method, f"/api/v1/videos/{video['id']}/like", headers=account.auth)

        likes = await asyncio.gather(*(like("PUT", v, a) for v in videos for a in accounts))
        assert {r.status_code for r in likes} == {200}, [r.text for r in likes if r.status_code != 200]
        unlikes = await asyncio.gather(*(like("DELETE", v, a) for v in videos for a in accounts[::2]))
        assert {r.status_code for r in unlikes} == {200}, [r.text for r in unlikes if r.status_code != 200]

        # comments from every account on the first video of each owner, all at once
        commented = [videos[i * VIDEOS_EACH] for i in range(ACCOUNTS)]
        comments = await asyncio.gather(
            *(
                recorder.request(
                    "POST",
                    f"/api/v1/videos/{v['id']}/comments",
                    json={"body": f"from {a.id}"},
                    headers=a.auth,
                )
                for v in commented
                for a in accounts
            )
        )
        assert {r.status_code for r in comments} == {201}, [r.text for r in comments if r.status_code != 201]
        threads = await asyncio.gather(
            *(_pages(recorder, f"/api/v1/videos/{v['id']}/comments", {"limit": 2}) for v in commented)
        )
        for thread in threads:
            assert sorted(c["user_id"] for c in thread) == sorted(a.id for a in accounts)

        # views, counted in Redis and flushed to PostgreSQL by the workers' flush
        views = await asyncio.gather(
            *(
                recorder.request("POST", f"/api/v1/videos/{v['id']}/views")
                for v in videos
                for _ in range(VIEWS_EACH)
            )
        )
        assert {r.status_code for r in views} == {202}, [r.text for r in views if r.status_code != 202]

        async def flushed() -> bool:
            stored = await services.db_value(
                fresh_database,
                "SELECT count(*) FROM videos WHERE id = ANY($1::bigint[]) AND view_count = $2",
                [v["id"] for v in videos],
                VIEWS_EACH,
            )
            return stored == len(videos)

        assert await eventually(flushed, timeout=60.0), "views were not flushed to PostgreSQL"

        # every detail, at once: the counters add up
        details = await asyncio.gather(
            *(recorder.request("GET", f"/api/v1/videos/{v['id']}") for v in videos)
        )
        liked_by = ACCOUNTS - len(accounts[::2])
        for video, detail in zip(videos, details, strict=True):
            assert detail.status_code == 200, detail.text
            body = detail.json()
            assert body["like_count"] == liked_by
            assert body["view_count"] == VIEWS_EACH, body
            assert body["comment_count"] == (ACCOUNTS if video in commented else 0)

        health = await asyncio.gather(*(recorder.request("GET", "/health/ready") for _ in range(8)))
        assert {r.status_code for r in health} == {200}

        assert recorder.server_errors() == []

        # it was all multiplexed: PostgreSQL saw at most the pooler's 3 server connections to the
        # database (besides this query's own), while more client connections logged in to the pooler
        backends = await services.db_value(
            fresh_database,
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        assert isinstance(backends, int) and backends <= 3
    assert "does not exist" not in pooled_server.logs()
    clients = pgbouncer.logs().count(f"login attempt: db={pgbouncer.database} ")
    assert clients > 3, pgbouncer.logs()[-2000:]


def test_seed_bulk_loads_through_transaction_pooling(
    pooled_server: RunningServer, migrated: dict[str, str], fresh_database: str
) -> None:
    """`halo seed`'s COPY and executemany through the pooler (after the main paths: it adds videos)."""
    before = asyncio.run(services.db_value(fresh_database, "SELECT count(*) FROM videos"))
    seeded = subprocess.run(
        [*HALO, "seed", "--users", "20", "--videos", "100"],
        env=migrated,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert seeded.returncode == 0, seeded.stdout + seeded.stderr
    after = asyncio.run(services.db_value(fresh_database, "SELECT count(*) FROM videos"))
    assert isinstance(before, int) and after == before + 100
    listing = httpx.get(f"{pooled_server.url}/api/v1/videos", params={"limit": 50}, timeout=30)
    assert listing.status_code == 200 and len(listing.json()["items"]) == 50
