"""Session-wide real services: one PostgreSQL database and one Redis key space per test run."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from tests.support import services

RUN_ID = uuid.uuid4().hex


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    try:
        url, throwaway = services.postgres_server_url()
    except (services.ServiceUnavailable, OSError) as exc:
        services.unavailable(str(exc))
        raise
    yield url
    if throwaway is not None:
        throwaway.destroy()


@pytest.fixture(scope="session")
async def database_url(postgres_server: str) -> AsyncIterator[str]:
    """A fresh database, migrated to head with `halo migrate`."""
    url = await services.create_database(postgres_server)
    from halo.config import Settings
    from halo.db.database import migrate

    await migrate(Settings(env="development", database_url=url), report=lambda _: None)
    yield url
    await services.drop_database(postgres_server, url)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    yield from services.redis_database(RUN_ID)


@pytest.fixture(scope="session")
def redis_owner() -> str:
    return RUN_ID


def _missing(exc: Exception) -> None:
    """A server binary that is not installed: a failure under CI, a skip elsewhere."""
    if os.environ.get("CI") == "true":
        pytest.fail(str(exc))
    pytest.skip(str(exc))


@pytest.fixture
def throwaway_redis() -> Iterator[services.ThrowawayRedis]:
    """A redis-server of the test's own, which it may kill and restart."""
    try:
        server = services.ThrowawayRedis().start()
    except services.ServiceUnavailable as exc:
        _missing(exc)
    yield server
    server.stop()


@pytest.fixture
def throwaway_postgres() -> Iterator[services.ThrowawayPostgres]:
    """A PostgreSQL server of the test's own, which it may stop and start."""
    try:
        server = services.ThrowawayPostgres().init()
    except services.ServiceUnavailable as exc:
        _missing(exc)
    server.start()
    yield server
    server.destroy()


@pytest.fixture(scope="module")
def primary_with_replica() -> Iterator[tuple[services.ThrowawayPostgres, services.ThrowawayReplica]]:
    """A throwaway primary and a streaming replica of it (pg_basebackup -R), both the module's own."""
    primary = replica = None
    try:
        primary = services.ThrowawayPostgres().init()
        primary.start()
        replica = services.ThrowawayReplica().clone(primary)
        replica.start()
    except services.ServiceUnavailable as exc:
        for server in (replica, primary):
            if server is not None:
                server.destroy()
        _missing(exc)
    assert primary is not None and replica is not None
    yield primary, replica
    replica.destroy()
    primary.destroy()


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[services.ThrowawayRedisCluster]:
    """A three-master Redis Cluster of the run's own, started on first use and killed at the end."""
    try:
        cluster = services.ThrowawayRedisCluster().start()
    except (services.ServiceUnavailable, subprocess.CalledProcessError) as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"cannot start a Redis Cluster: {exc}")
        pytest.skip(f"cannot start a Redis Cluster: {exc}")
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def redis_cluster_url(redis_cluster: services.ThrowawayRedisCluster) -> str:
    return redis_cluster.url
