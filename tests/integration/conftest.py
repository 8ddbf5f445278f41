"""Integration tests talk to the run's real PostgreSQL database and a Redis key space of their own."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio import Redis

from halo.config import Settings
from halo.db import database
from halo.engagement.memory_store import MemoryEngagementStore
from halo.engagement.redis_store import RedisEngagementStore
from halo.engagement.store import EngagementStore
from halo.redis.link import RedisLink, link_for
from halo.repositories.users import UserRecord, UserRepository
from tests.support import services


@pytest.fixture(scope="session")
def redis_url(redis_owner: str) -> Iterator[str]:
    """A Redis database index apart from the run's main one. The end-to-end servers live for the
    whole session on that one, and their view flushers claim every pending view there twice a
    second: a test here that counts the views it claimed would lose some to them."""
    yield from services.redis_database(f"{redis_owner}:integration")


@pytest.fixture(scope="session")
def settings(database_url: str, redis_url: str) -> Settings:
    return Settings(env="development", database_url=database_url, redis_url=redis_url, bcrypt_rounds=4)


@pytest.fixture
async def orm(settings: Settings) -> AsyncIterator[None]:
    """Tortoise on the run's PostgreSQL database (per test: some tests point it at SQLite)."""
    await database.open_orm(settings)
    yield
    await database.close_orm()


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


def unique(prefix: str = "u") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


async def new_user(*, username: str | None = None, is_adult: bool = False) -> UserRecord:
    """A user written straight to the database (no HTTP, no bcrypt), with a unique email and username."""
    return await UserRepository().create(
        email=f"{unique()}@example.com",
        username=username or unique(),
        password_hash="x",
        display_name="U",
        is_adult=is_adult,
    )


async def redis_link(
    request: pytest.FixtureRequest, kind: str | None = None, **settings: object
) -> RedisLink:
    """A probed link of `kind` (by default the parametrised fixture's): `redis` (the run's key
    space) or `cluster`.

    Built by `link_for`, as the service builds it; the cluster is started on first use only.
    """
    kind = kind or request.param
    cluster = kind == "cluster"
    url = request.getfixturevalue("redis_cluster_url" if cluster else "redis_url")
    link = link_for(
        Settings(
            env="development",
            database_url="sqlite://:memory:",
            redis_url=url,
            redis_cluster=cluster,
            **settings,
        )  # type: ignore[arg-type]
    )
    assert await link.probe(), f"{kind} is not answering"
    return link


# Video ids far from anything the e2e servers create in the shared key space.
_ids = itertools.count(9_000_000_000 + (id(object()) % 1_000_000) * 1000)


def new_id() -> int:
    return next(_ids)


@pytest.fixture(params=["memory", "redis", "cluster"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[EngagementStore]:
    """One contract, three engagement stores: in-process, Redis and Redis Cluster."""
    if request.param == "memory":
        yield MemoryEngagementStore(batch_retention_seconds=0.5)
        return
    link = await redis_link(request)
    yield RedisEngagementStore(link, batch_retention_seconds=0.5)
    await link.client.aclose()
