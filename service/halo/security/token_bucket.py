"""Per-client token buckets with bounded memory.

A bucket holds up to `burst` tokens and refills at `rate` tokens a second; a
request takes one. A bucket left idle long enough to refill completely is
indistinguishable from a new one, so it is dropped; when the table is full
the least recently used buckets go first.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple, Protocol

if TYPE_CHECKING:
    from halo.security.shared_buckets import BucketTable, SharedTokenBuckets


class Decision(NamedTuple):
    """One request's verdict (a named tuple: one is made per request, and a frozen dataclass costs
    several times more to build)."""

    allowed: bool
    limit: int
    remaining: int
    retry_after: int  # whole seconds until a token is available; 0 when allowed


class RateLimiter(Protocol):
    async def hit(self, key: str) -> Decision: ...

    def share(self, table: BucketTable) -> None:
        """Several workers: the instance's buckets stand in for this process's own."""


class TokenBucketLimiter:
    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        max_clients: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = burst
        self.max_clients = max_clients
        self._clock = clock
        self._full_after = burst / rate  # seconds for an empty bucket to refill
        self._buckets: OrderedDict[str, list[float]] = OrderedDict()  # key -> [tokens, updated_at]
        self._next_sweep = clock() + self._full_after

    def __len__(self) -> int:
        return len(self._buckets)

    def hit(self, key: str) -> Decision:
        now = self._clock()
        if now >= self._next_sweep:
            self._sweep(now)
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_clients:
                self._buckets.popitem(last=False)
            bucket = [float(self.burst), now]
            self._buckets[key] = bucket
        else:
            self._buckets.move_to_end(key)
            bucket[0] = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
            bucket[1] = now
        if bucket[0] >= 1.0:
            bucket[0] -= 1.0
            return Decision(True, self.burst, int(bucket[0]), 0)
        retry_after = max(1, math.ceil((1.0 - bucket[0]) / self.rate))
        return Decision(False, self.burst, 0, retry_after)

    def _sweep(self, now: float) -> None:
        """Drop buckets idle long enough to be full again (oldest first: the dict is in LRU order)."""
        horizon = now - self._full_after
        buckets = self._buckets
        while buckets:
            key, bucket = next(iter(buckets.items()))
            if bucket[1] > horizon:
                break
            del buckets[key]
        self._next_sweep = now + max(self._full_after, 1.0)


class LocalRateLimiter:
    """This process's buckets behind the awaitable `RateLimiter` interface."""

    def __init__(self, buckets: TokenBucketLimiter) -> None:
        self.buckets: TokenBucketLimiter | SharedTokenBuckets = buckets

    async def hit(self, key: str) -> Decision:
        return self.buckets.hit(key)

    def share(self, table: BucketTable) -> None:
        from halo.security.shared_buckets import SharedTokenBuckets  # it builds on this module

        if isinstance(self.buckets, TokenBucketLimiter):
            self.buckets = SharedTokenBuckets(table, overflow=self.buckets)
