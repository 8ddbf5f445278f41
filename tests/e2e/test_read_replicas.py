"""Read replicas on a real streaming replica: routing, read-your-writes across instances, lag, failure.

The module's own throwaway primary and a replica made from it with `pg_basebackup -R`; two
`halo serve` instances sharing Redis, both reading from the replica (REPLICA_MAX_LAG_SECONDS=1).
The tests run in order on the same servers: each leaves the replica streaming and up.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import asyncpg
import httpx
import pytest

from tests.conftest import RUN_ID
from tests.e2e.conftest import Account, create_video, eventually, register, unique
from tests.support import services
from tests.support.metrics import scrape
from tests.support.server import RunningServer, base_env, migrate

MAX_LAG = 1.0


@dataclass
class Fleet:
    primary: services.ThrowawayPostgres
    replica: services.ThrowawayReplica
    replica_url: str
    servers: list[RunningServer]
    env: dict[str, str]
    database_url: str


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """A Redis database of this module's own: its servers have a database of their own, whose ids
    (videos and users from 1) would meet the other servers' in a shared key space."""
    yield from services.redis_database(f"{RUN_ID}:replicas")


@pytest.fixture(scope="module")
def fleet(
    primary_with_replica: tuple[services.ThrowawayPostgres, services.ThrowawayReplica], redis_url: str
) -> Iterator[Fleet]:
    primary, replica = primary_with_replica
    database_url = asyncio.run(services.create_database(primary.url))
    replica_url = services.with_database(replica.url, database_url.rsplit("/", 1)[1])
    env = {
        "DATABASE_REPLICA_URLS": replica_url,
        "REPLICA_MAX_LAG_SECONDS": str(MAX_LAG),
        "DATABASE_TIMEOUT_SECONDS": "3",
        "JWT_SECRET": secrets.token_urlsafe(48),  # one fleet: a token from one instance is good on the other
    }
    migrate(base_env(database_url, redis_url))
    servers = [
        RunningServer(base_env(database_url, redis_url, WORKERS="2", **env)).start(),
        RunningServer(base_env(database_url, redis_url, WORKERS="1", **env)).start(),
    ]
    try:
        yield Fleet(primary, replica, replica_url, servers, env, database_url)
    finally:
        for server in servers:
            server.terminate()


@pytest.fixture
async def clients(fleet: Fleet) -> AsyncIterator[list[httpx.AsyncClient]]:
    async with (
        httpx.AsyncClient(base_url=fleet.servers[0].url, timeout=30) as first,
        httpx.AsyncClient(base_url=fleet.servers[1].url, timeout=30) as second,
    ):
        yield [first, second]


def reads(server: RunningServer, pool: str) -> float:
    return scrape(server.metrics_url).total("halo_db_reads_total", pool=pool)


def fallbacks(server: RunningServer, reason: str) -> float:
    return scrape(server.metrics_url).total("halo_db_replica_fallbacks_total", reason=reason)


async def on_replica(fleet: Fleet, sql: str) -> object:
    connection = await asyncpg.connect(fleet.replica_url)
    try:
        return await connection.fetchval(sql)
    finally:
        await connection.close()


async def replica_serves(fleet: Fleet, client: httpx.AsyncClient, server: RunningServer) -> bool:
    """An anonymous list page is read from the replica (the replica's read count grows). In view
    count order: a first page in creation or title order is cached, and filled from the primary."""
    before = reads(server, "replica0")
    for _ in range(5):
        page = await client.get("/api/v1/videos", params={"limit": 5, "sort": "-view_count"})
        assert page.status_code == 200
    return reads(server, "replica0") > before


async def test_reads_go_to_the_replica(fleet: Fleet, clients: list[httpx.AsyncClient]) -> None:
    for client, server in zip(clients, fleet.servers, strict=True):
        assert await eventually(lambda c=client, s=server: replica_serves(fleet, c, s), timeout=30)
    # the replica's own view: HALO's pools hold connections to it
    halo_sessions = await on_replica(
        fleet, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'halo'"
    )
    assert isinstance(halo_sessions, int) and halo_sessions >= 1
    scraped = scrape(fleet.servers[0].metrics_url)
    assert scraped.value("halo_db_pool_up", pool="replica0", role="replica") == 1
    assert scraped.total("db_client_connection_max", db_client_connection_pool_name="replica0") > 0


async def read_back(client: httpx.AsyncClient, owner: Account, video_id: int) -> dict[str, object]:
    response = await client.get(f"/api/v1/videos/{video_id}", headers=owner.auth)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_a_writer_reads_its_writes_on_every_instance_while_replay_is_paused(
    fleet: Fleet, clients: list[httpx.AsyncClient]
) -> None:
    first, second = clients
    owner = await register(first)
    fan = await register(second)
    assert await eventually(lambda: replica_serves(fleet, second, fleet.servers[1]), timeout=30)
    rw_before = fallbacks(fleet.servers[1], "read_your_writes")
    lag_before = fallbacks(fleet.servers[1], "lag")

    await on_replica(fleet, "SELECT pg_wal_replay_pause()")
    try:
        # written on one instance, read at once on the other (and on the first: both workers)
        video = await create_video(first, owner, title=unique("Replica "))
        for client in (second, first, first):
            assert (await read_back(client, owner, video["id"]))["title"] == video["title"]
        mine = await second.get("/api/v1/videos", params={"user_id": owner.id}, headers=owner.auth)
        assert [item["id"] for item in mine.json()["items"]] == [video["id"]]

        edited = await second.patch(
            f"/api/v1/videos/{video['id']}", json={"title": "edited while paused"}, headers=owner.auth
        )
        assert edited.status_code == 200, edited.text
        for client in (first, second, first):
            assert (await read_back(client, owner, video["id"]))["title"] == "edited while paused"

        like = await first.put(f"/api/v1/videos/{video['id']}/like", headers=fan.auth)
        assert like.status_code == 200, like.text
        for client in (second, first):
            seen = await read_back(client, fan, video["id"])
            assert seen["viewer"] == {"liked": True}
            assert seen["like_count"] == 1

        comment = await second.post(
            f"/api/v1/videos/{video['id']}/comments", json={"body": "while paused"}, headers=fan.auth
        )
        assert comment.status_code == 201, comment.text
        for client in (first, second):
            page = await client.get(f"/api/v1/videos/{video['id']}/comments", headers=fan.auth)
            assert [item["body"] for item in page.json()["items"]] == ["while paused"]

        # the writers' reads skipped the replica, which has not replayed their writes
        assert fallbacks(fleet.servers[1], "read_your_writes") > rw_before
        assert await on_replica(fleet, f"SELECT count(*) FROM videos WHERE id = {int(video['id'])}") == 0

        # an anonymous first page in creation order is cached, so it is read from the primary:
        # never behind, even while the replica still counts as usable
        first_page = await second.get("/api/v1/videos", params={"user_id": owner.id})
        assert [item["id"] for item in first_page.json()["items"]] == [video["id"]]

        # anyone else: the replica is skipped once it is more than REPLICA_MAX_LAG_SECONDS behind
        async def anonymous_sees_it() -> bool:
            listing = await second.get("/api/v1/videos", params={"user_id": owner.id, "sort": "-view_count"})
            return [item["id"] for item in listing.json()["items"]] == [video["id"]]

        assert await eventually(anonymous_sees_it, timeout=30, interval=0.3)
        assert fallbacks(fleet.servers[1], "lag") > lag_before
    finally:
        await on_replica(fleet, "SELECT pg_wal_replay_resume()")
    # caught up again: the replica serves reads once more
    assert await eventually(lambda: replica_serves(fleet, second, fleet.servers[1]), timeout=30)


async def test_a_replica_stopped_under_load_fails_no_request(
    fleet: Fleet, clients: list[httpx.AsyncClient]
) -> None:
    first, _ = clients
    server = fleet.servers[0]
    owner = await register(first)
    video = await create_video(first, owner)
    assert await eventually(lambda: replica_serves(fleet, first, server), timeout=30)
    down_before = fallbacks(server, "down")

    statuses: list[int] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            while not stop.is_set():
                try:
                    statuses.append(http.get("/api/v1/videos", params={"limit": 10}).status_code)
                    statuses.append(http.get(f"/api/v1/videos/{video['id']}/comments").status_code)
                    statuses.append(http.get("/api/v1/videos", params={"q": "zz"}).status_code)
                except BaseException as exc:
                    errors.append(exc)

    workers = [threading.Thread(target=load) for _ in range(4)]
    for worker in workers:
        worker.start()
    try:
        await asyncio.sleep(1.0)
        await asyncio.to_thread(fleet.replica.stop, "fast")
        await asyncio.sleep(2.0)
        ready = await first.get("/health/ready")
        assert ready.status_code == 200
        assert (await first.get("/health")).json()["checks"]["database"]["status"] == "ok"
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=60)
    assert not errors
    assert statuses and set(statuses) == {200}
    assert fallbacks(server, "down") > down_before
    assert scrape(server.metrics_url).value("halo_db_pool_up", pool="replica0", role="replica") == 0

    await asyncio.to_thread(fleet.replica.start)
    assert await eventually(lambda: replica_serves(fleet, first, server), timeout=60, interval=0.5)


async def test_with_redis_down_a_writer_reads_from_the_primary(
    fleet: Fleet, throwaway_redis: services.ThrowawayRedis
) -> None:
    """Where the writer's position cannot be recorded or read, its reads go to the primary: never
    the state from before its write, during the outage or after it (the position is lost)."""
    env = {**fleet.env, "REDIS_TIMEOUT_SECONDS": "0.5"}
    servers = [
        RunningServer(base_env(fleet.database_url, throwaway_redis.url, WORKERS="1", **env)).start()
        for _ in range(2)
    ]
    try:
        async with (
            httpx.AsyncClient(base_url=servers[0].url, timeout=30) as first,
            httpx.AsyncClient(base_url=servers[1].url, timeout=30) as second,
        ):
            owner = await register(first)
            assert await eventually(lambda: replica_serves(fleet, second, servers[1]), timeout=30)
            await on_replica(fleet, "SELECT pg_wal_replay_pause()")
            try:
                throwaway_redis.stop()
                video = await create_video(first, owner, title=unique("Outage "))
                for client in (second, first):
                    assert (await read_back(client, owner, video["id"]))["title"] == video["title"]
                mine = await second.get("/api/v1/videos", params={"user_id": owner.id}, headers=owner.auth)
                assert [item["id"] for item in mine.json()["items"]] == [video["id"]]
                assert fallbacks(servers[1], "read_your_writes") > 0

                throwaway_redis.start()  # back, empty: the write's position is gone
                for _ in range(10):
                    assert (await read_back(second, owner, video["id"]))["title"] == video["title"]
                    listing = await second.get(
                        "/api/v1/videos", params={"user_id": owner.id}, headers=owner.auth
                    )
                    assert [item["id"] for item in listing.json()["items"]] == [video["id"]]
                    await asyncio.sleep(0.5)
            finally:
                await on_replica(fleet, "SELECT pg_wal_replay_resume()")
    finally:
        for server in servers:
            server.terminate()


async def test_with_a_primary_read_share_list_pages_go_to_both(fleet: Fleet) -> None:
    env = base_env(fleet.database_url, fleet.servers[0].env["REDIS_URL"], WORKERS="1", **fleet.env)
    server = RunningServer({**env, "REPLICA_PRIMARY_READ_SHARE": "0.5"}).start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            assert await eventually(lambda: replica_serves(fleet, client, server), timeout=30)  # replica up
            primary, replica = reads(server, "primary"), reads(server, "replica0")
            skipped = fallbacks(server, "lag") + fallbacks(server, "down")
            pages = await asyncio.gather(
                *(
                    client.get("/api/v1/videos", params={"limit": 5, "sort": "-view_count"})
                    for _ in range(200)
                )
            )
        assert {page.status_code for page in pages} == {200}
        on_primary, on_replica = reads(server, "primary") - primary, reads(server, "replica0") - replica
        assert on_primary + on_replica >= 200
        assert 60 <= on_primary <= 140 and 60 <= on_replica <= 140, (
            on_primary,
            on_replica,
        )  # about half each
        assert fallbacks(server, "lag") + fallbacks(server, "down") == skipped  # a share, not a fallback
    finally:
        server.terminate()
