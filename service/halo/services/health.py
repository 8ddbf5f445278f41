"""Health of the instance and its dependencies, for probes and operators."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Literal

from halo.redis.link import RedisLink
from halo.repositories.health import DatabaseProbe

log = logging.getLogger("halo.health")

CHECK_TIMEOUT = 2.0


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
    def __init__(self, database: DatabaseProbe, redis: RedisLink | None) -> None:
        self._database = database
        self._redis = redis

    async def check(self) -> Health:
        database, redis = await asyncio.gather(self._check_database(), self._check_redis())
        if database.status == "down":
            status: Literal["ok", "degraded", "down"] = "down"
        elif redis.status == "down":
            status = "degraded"
        else:
            status = "ok"
        return Health(status, database, redis)

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
