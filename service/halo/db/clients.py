"""Clients of the data stores: the Tortoise configuration and the Redis client.

Built from settings by the app factory (per worker) and by the CLI; nothing
here runs at import time.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from tortoise.backends.base.config_generator import expand_db_url

from halo.config import Settings
from halo.db.replicas import replica_connection
from halo.db.sqlite import store_datetimes_as_text

APP_LABEL = "halo"
MODELS_MODULE = "halo.db.models"
MIGRATIONS_MODULE = "halo.migrations"


async def _keep_session(connection: Any) -> None:
    return None


def _apps() -> dict[str, Any]:
    return {
        APP_LABEL: {
            "models": [MODELS_MODULE],
            "default_connection": "default",
            "migrations": MIGRATIONS_MODULE,
        }
    }


# For `halo makemigrations`: it compares the models with the migrations on
# disk; no real database is involved.
MAKEMIGRATIONS_CONFIG: dict[str, Any] = {
    "connections": {"default": "sqlite://:memory:"},
    "apps": _apps(),
    "use_tz": True,
    "timezone": "UTC",
}


def asyncpg_pooler_options(settings: Settings) -> dict[str, Any]:
    """asyncpg options a transaction-mode pooler needs (none without one).

    Behind PgBouncer in transaction mode, consecutive transactions of one client
    connection may run on different server connections, and PgBouncer before 1.21
    keeps no prepared statements for its clients: asyncpg's statement cache (named
    statements, prepared once per connection) would then run a statement prepared
    on another server ("prepared statement ... does not exist"). With the cache
    off, asyncpg prepares each statement unnamed and parses it again in the same
    round trip as its execution, so nothing outlives the transaction.
    """
    if settings.database_pooler == "none":
        return {}
    return {"statement_cache_size": 0}


def tortoise_config(settings: Settings, *, pool_max: int | None = None) -> dict[str, Any]:
    """The Tortoise config for this deployment; `pool_max` overrides the pool size (the CLI needs 2)."""
    connection = expand_db_url(settings.database_url)
    credentials = connection["credentials"]
    if settings.is_sqlite:
        store_datetimes_as_text()
    else:
        maximum = pool_max if pool_max is not None else settings.database_pool_max
        credentials.update(
            minsize=min(settings.database_pool_min, maximum),
            maxsize=maximum,
            # connect timeout and a bound on every statement: a stuck database
            # turns into a 503, not a hung request
            timeout=settings.database_timeout_seconds,
            command_timeout=settings.database_timeout_seconds,
            max_inactive_connection_lifetime=300.0,
            application_name="halo",
            # Our connections carry no session state (no LISTEN, no session advisory locks, no
            # SET): skip asyncpg's reset round trip on every release to the pool.
            reset=_keep_session,
        )
        credentials.update(asyncpg_pooler_options(settings))
    configured = {"default": connection}
    for index, url in enumerate(settings.database_replica_urls):  # read replicas: halo.db.replicas
        configured[f"replica{index}"] = replica_connection(connection, url)
    return {
        "connections": configured,
        "apps": _apps(),
        "use_tz": True,
        "timezone": "UTC",
    }


# Pub/sub connections a worker keeps open (RedisEventBus, RedisLiveSignals): on a cluster they
# are taken from a node's pool, beside the REDIS_POOL_MAX calls the worker's RedisLink lets through.
CLUSTER_SUBSCRIBERS = 2


def redis_client(settings: Settings) -> Redis | RedisCluster:
    """A pooled Redis client with bounded timeouts; one per worker."""
    assert settings.redis_url is not None
    common: dict[str, Any] = {
        "socket_timeout": settings.redis_timeout_seconds,
        "socket_connect_timeout": settings.redis_timeout_seconds,
        # No PING before commands: the link's probe watches health, and a dead connection is retried once.
        "health_check_interval": 0,
        "retry": Retry(ExponentialBackoff(cap=0.2, base=0.02), retries=1),
        "decode_responses": False,
    }
    if settings.redis_cluster:
        # The URL names one node; the client learns the others and the slot map from it.
        # `max_connections` is per node, and a full node pool fails instead of waiting,
        # so the worker's RedisLink keeps calls in flight under the same bound (link_for).
        # `retry` here is the cluster client's own: one more try after refreshing the slot map.
        # Each subscriber (the event bus and the live signals) holds one connection of its node's pool
        # for good: those come on top of the calls in flight.
        return RedisCluster.from_url(
            settings.redis_url, max_connections=settings.redis_pool_max + CLUSTER_SUBSCRIBERS, **common
        )
    # A blocking pool: a burst beyond the bound waits briefly for a free connection instead of failing.
    pool = BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=settings.redis_pool_max,
        timeout=settings.redis_timeout_seconds,
        **common,
    )
    return Redis(connection_pool=pool)
