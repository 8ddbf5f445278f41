"""The worker's link to Redis: one place that knows whether Redis is up, and its epoch.

Redis is a cache of PostgreSQL, so after an outage this worker cannot trust
what Redis holds (a write may have failed while it was away). Every cached
entry is stamped with the *epoch* it was filled in; when this worker sees
Redis come back, or had a write fail, it sets a new epoch and every entry of
an older epoch is refilled from PostgreSQL on its next use. The epoch is
read on each probe (once a second), so all workers and replicas follow
within a second.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from redis.exceptions import RedisClusterException, RedisError

from halo.config import Settings
from halo.db.clients import redis_client

log = logging.getLogger("halo.redis")

EPOCH_KEY = "halo:epoch"
T = TypeVar("T")


class StoreUnavailable(Exception):
    """The engagement store (Redis) is down or did not answer in time."""


# What a failed Redis call raises. Cluster-level failures (no reachable node,
# an uncovered slot) are RedisClusterException, which is not a RedisError.
REDIS_FAILURES = (RedisError, RedisClusterException, OSError, TimeoutError)


class RedisLink:
    def __init__(
        self,
        client: Any,
        *,
        probe_interval: float = 1.0,
        probe_timeout: float = 1.0,
        max_in_flight: int | None = None,
        queue_timeout: float = 1.0,
    ) -> None:
        """`max_in_flight` bounds concurrent calls; beyond it a call waits up to `queue_timeout`.

        Needed for the cluster client, whose per-node pools fail at once when full
        (the single-server client waits in its BlockingConnectionPool instead).
        """
        self.client = client
        self.up = True
        self.epoch = ""  # unknown until the first probe: no cached entry matches it
        self.probe_interval = probe_interval
        self.probe_timeout = probe_timeout
        self._was_down = False
        self._dirty = False
        self._on_error: list[Callable[[], None]] = []
        self._slots = asyncio.Semaphore(max_in_flight) if max_in_flight else None
        self._queue_timeout = queue_timeout

    @property
    def bounded(self) -> bool:
        """Whether calls in flight are capped (a cluster client): then every call goes through `run`."""
        return self._slots is not None

    def on_error(self, callback: Callable[[], None]) -> None:
        """Register a callback run on every failed call and failed probe (metrics)."""
        self._on_error.append(callback)

    async def run(self, op: Callable[[], Awaitable[T]], *, write: bool) -> T:
        """Run one Redis operation. While Redis is known to be down, fail fast."""
        if not self.up:
            raise StoreUnavailable("redis is down")
        if self._slots is None:
            return await self._attempt(op, write=write)
        try:
            async with asyncio.timeout(self._queue_timeout):
                await self._slots.acquire()
        except TimeoutError:
            # As when the single-server client's pool stays full: Redis is not keeping up,
            # so serve degraded (and fail fast) until the next probe. Nothing was sent.
            self.failed(write=False, reason="no connection free in time")
            raise StoreUnavailable("no redis connection free in time") from None
        try:
            return await self._attempt(op, write=write)
        finally:
            self._slots.release()

    async def _attempt(self, op: Callable[[], Awaitable[T]], *, write: bool) -> T:
        try:
            return await op()
        except REDIS_FAILURES as exc:
            raise self.call_failed(exc, write=write) from exc

    def call_failed(self, exc: BaseException, *, write: bool) -> StoreUnavailable:
        """Record a failed call (degraded until the next probe) and return the error to raise."""
        message = str(exc)
        self.failed(write=write, reason=f"{type(exc).__name__}: {message}" if message else type(exc).__name__)
        return StoreUnavailable(message or type(exc).__name__)

    def failed(self, *, write: bool, reason: str = "") -> None:
        if self.up:
            log.warning("redis call failed (%s); serving degraded until it answers", reason or "unknown")
        self.up = False
        self._was_down = True
        if write:
            self._dirty = True
        for callback in self._on_error:
            callback()

    async def _bounded(self, call: Callable[[], Awaitable[T]], timeout: float) -> T:
        """A call outside `run` (probe, ping) under the same bound on calls in flight."""

        async def bounded() -> T:
            if self._slots is None:
                return await call()
            async with self._slots:
                return await call()

        return await asyncio.wait_for(bounded(), timeout)

    async def probe(self) -> bool:
        """Check Redis and refresh the epoch; after an outage or a failed write, start a new epoch."""
        try:
            epoch = await self._bounded(self._read_epoch, self.probe_timeout)
            if self._was_down or self._dirty:
                epoch = uuid.uuid4().hex
                await self._bounded(lambda: self.client.set(EPOCH_KEY, epoch), self.probe_timeout)
                log.info("redis is back; new cache epoch, counters will be rebuilt from the database")
            self.epoch = epoch
            self._was_down = self._dirty = False
            self.up = True
            return True
        except Exception as exc:  # any failure, even an unexpected one, means "not up"
            if self.up:
                log.warning("redis probe failed (%s); serving degraded", exc or type(exc).__name__)
            self.up = False
            self._was_down = True
            # Counted too: while Redis is down calls fail fast without trying, so the
            # once-a-second probe is what keeps an outage visible in the error rate.
            for callback in self._on_error:
                callback()
            return False

    async def _read_epoch(self) -> str:
        value = await self.client.get(EPOCH_KEY)
        if value is None:  # a fresh or flushed Redis: nothing cached is left to invalidate
            await self.client.set(EPOCH_KEY, uuid.uuid4().hex, nx=True)
            value = await self.client.get(EPOCH_KEY)
        return value.decode() if isinstance(value, bytes) else str(value)

    async def watch(self) -> None:
        """Probe forever (a background task per worker)."""
        while True:
            await self.probe()
            await asyncio.sleep(self.probe_interval)

    def pubsub(self) -> Any:
        """A pub/sub connection of its own (on a cluster, any node: PUBLISH reaches every node)."""
        return self.client.pubsub()  # on a cluster: redis-py's ClusterPubSub, on one node

    async def ping_latency(self, timeout: float) -> float:
        """Round-trip time of a PING in seconds (for /health); raises on failure."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        await self._bounded(self.client.ping, timeout)
        return loop.time() - started


def link_for(settings: Settings) -> RedisLink:
    """The worker's link, on a client built from settings (REDIS_URL must be set)."""
    client = redis_client(settings)
    # One call holds at most one connection per cluster node at a time, so this
    # bound keeps every node's pool (REDIS_POOL_MAX) from ever being exhausted.
    bound = settings.redis_pool_max if settings.redis_cluster else None
    return RedisLink(client, max_in_flight=bound, queue_timeout=settings.redis_timeout_seconds)
