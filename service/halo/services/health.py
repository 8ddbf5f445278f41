"""Health of the instance and its dependencies, for probes and operators.

A result is kept for CACHE_SECONDS and checks asked for meanwhile share one: a flood of
`/health` makes one database probe a second per worker, and cannot drain the pool."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Literal

from halo.redis.link import RedisLink
from halo.repositories.health import DatabaseProbe

log = logging.getLogger("halo.health")

CHECK_TIMEOUT = 2.0
CACHE_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class Check:
    status: Literal["ok", "down"]
    latency_ms: float | None


@dataclass(frozen=True, slots=True)
class Health:
    status: Literal["ok", "degraded", "down"]
    database: Check
    redis: Check


class HealthService:
    def __init__(
        self, database: DatabaseProbe, redis: RedisLink | None, *, cache_seconds: float = CACHE_SECONDS
    ) -> None:
        self._database = database
        self._redis = redis
        self._cache_seconds = cache_seconds
        self._last: tuple[float, Health] | None = None  # (taken at, result)
        self._running: asyncio.Task[Health] | None = None

    async def check(self) -> Health:
        """The latest result when under CACHE_SECONDS old, else one check shared by every caller."""
        last = self._last
        if last is not None and time.monotonic() - last[0] < self._cache_seconds:
            return last[1]
        if self._running is None or self._running.done():
            # A task of its own: a caller that goes away does not cancel the others' check.
            self._running = asyncio.create_task(self._check())
        return await asyncio.shield(self._running)

    async def _check(self) -> Health:
        database, redis = await asyncio.gather(self._check_database(), self._check_redis())
        if database.status == "down":
            status: Literal["ok", "degraded", "down"] = "down"
        elif redis.status == "down":
            status = "degraded"
        else:
            status = "ok"
        result = Health(status, database, redis)
        self._last = (time.monotonic(), result)
        return result

    async def _check_database(self) -> Check:
        try:
            seconds = await self._database.ping(CHECK_TIMEOUT)
        except Exception as exc:
            log.warning("database check failed: %s", exc or type(exc).__name__)
            return Check("down", None)
        return Check("ok", round(seconds * 1000, 3))

    async def _check_redis(self) -> Check:
        if self._redis is None:  # the embedded in-process store cannot be down
            return Check("ok", 0.0)
        try:
            seconds = await self._redis.ping_latency(CHECK_TIMEOUT)
        except Exception as exc:
            log.warning("redis check failed: %s", exc or type(exc).__name__)
            return Check("down", None)
        return Check("ok", round(seconds * 1000, 3))
