"""Write-behind for views: pending views move from the engagement store to PostgreSQL in batches.

Every worker runs a flusher; an advisory lock lets one flush at a time across
all replicas. The store hands pending views over atomically as a numbered
batch; the batch and every older one not yet applied are added to the video
rows in one transaction, each at most once per video (`view_flush_seq`), and
only then marked applied. A flusher that dies half-way leaves its batch to the
next one: no view is lost or counted twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from halo.engagement.store import EngagementStore
from halo.repositories.engagement import EngagementRepository

log = logging.getLogger("halo.views")


@dataclass(frozen=True, slots=True)
class FlushResult:
    locked: bool  # False: another flusher held the lock, nothing was done
    batches: int = 0
    views: int = 0
    videos: int = 0


class ViewFlusher:
    def __init__(
        self,
        repository: EngagementRepository,
        store: EngagementStore,
        *,
        interval_seconds: float,
    ) -> None:
        self._repository = repository
        self._store = store
        self.interval = interval_seconds
        self._lock = asyncio.Lock()
        self.on_flush: list[Callable[[FlushResult, float], None]] = []  # (result, age of its oldest view)
        self.on_failure: list[Callable[[BaseException], None]] = []
        # (id, view_count, view_flush_seq) of the rows a committed flush changed
        self.on_rows: list[Callable[[list[tuple[int, int, int]]], Awaitable[None]]] = []

    async def flush_once(self) -> FlushResult:
        async with self._lock:
            async with self._repository.view_flush() as flush:
                if flush is None:
                    return FlushResult(locked=False)
                batches = await self._store.claim_views(flush.applied_seq)
                changed: list[tuple[int, int, int]] = []
                for batch in batches:
                    changed += await flush.apply(batch.seq, batch.views)
            if batches:
                await self._store.mark_applied([batch.seq for batch in batches])
            if changed:
                for notify in self.on_rows:
                    await notify(changed)
            result = FlushResult(
                True, len(batches), sum(sum(b.views.values()) for b in batches), len(changed)
            )
            lag = max((batch.age_seconds for batch in batches if batch.views), default=0.0)
            for callback in self.on_flush:
                callback(result, lag)
            return result

    async def run(self) -> None:
        """Flush every `interval` seconds until cancelled; failures are logged and retried."""
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.flush_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("view flush failed, will retry: %s", exc or type(exc).__name__)
                for callback in self.on_failure:
                    callback(exc)

    async def drain(self, timeout: float = 10.0) -> None:
        """At shutdown: flush until this process got the lock once (or time runs out)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if (await self.flush_once()).locked:
                    return
            except Exception as exc:
                log.warning("final view flush failed: %s", exc or type(exc).__name__)
                return
            await asyncio.sleep(0.05)
        log.warning("final view flush gave up waiting for the flush lock; pending views stay in Redis")
