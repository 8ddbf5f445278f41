"""Per-client token buckets shared by the workers of one instance.

With `RATE_LIMIT_BACKEND=local` and several workers, a client's requests land on whichever worker
accepted its connection; buckets of each worker's own would let it through once per worker. Here
the main process makes one `BucketTable` in shared memory before the workers start (Sanic's
`shared_ctx`), and every worker takes its tokens from it under one lock: a client has one bucket for
the instance, as with a single worker. `RATE_LIMIT_BACKEND=redis` makes it one for the fleet.

A bucket is its client's row (found as `halo.shared_tables` finds it): its tokens and when they
were counted. A bucket idle long enough to refill is the same as none, so its slot is taken over
by the next new client that probes it; the table has two slots for every client
`RATE_LIMIT_MAX_CLIENTS` allows. A client whose probe window holds no such slot is limited by the
worker's own buckets instead.
"""

from __future__ import annotations

import ctypes
import math
import time
from dataclasses import dataclass
from multiprocessing.context import BaseContext
from typing import Any

from halo.security.token_bucket import Decision, TokenBucketLimiter
from halo.shared_tables import client_digest, find_slot, slot_count

MIN_SLOTS = 1024
MAX_SLOTS = 1 << 22
DIGESTS_KEPT = 65_536  # each worker remembers this many clients' digests


@dataclass(frozen=True)
class BucketTable:
    """The shared memory: made once in the main process, handed to every worker."""

    lock: Any  # multiprocessing Lock
    keys: Any  # c_uint64 * slots: a client's digest, 0 for a slot never used
    state: Any  # c_double * (2 * slots): per slot, tokens and the monotonic time they were counted

    @classmethod
    def create(cls, context: BaseContext, max_clients: int) -> BucketTable:
        slots = slot_count(2 * max_clients, MIN_SLOTS, MAX_SLOTS)
        return cls(
            lock=context.Lock(),
            keys=context.Array(ctypes.c_uint64, slots, lock=False),  # type: ignore[attr-defined]
            state=context.Array(ctypes.c_double, 2 * slots, lock=False),  # type: ignore[attr-defined]
        )

    def shareable(self) -> tuple[Any, ...]:
        """What Sanic's `shared_ctx` carries to the workers (multiprocessing objects only)."""
        return (self.lock, self.keys, self.state)

    @classmethod
    def from_shared(cls, shared: tuple[Any, ...]) -> BucketTable:
        return cls(*shared)


class SharedTokenBuckets:
    """`TokenBucketLimiter.hit` on the instance's table (same rate, burst and decisions)."""

    def __init__(self, table: BucketTable, overflow: TokenBucketLimiter) -> None:
        self.rate = overflow.rate
        self.burst = overflow.burst
        self._full_after = overflow.burst / overflow.rate
        self._overflow = overflow
        self._lock = table.lock
        self._keys = table.keys
        self._state = table.state
        self._digests: dict[str, int] = {}

    def _digest(self, key: str) -> int:
        if len(self._digests) >= DIGESTS_KEPT:
            self._digests.clear()
        value = self._digests[key] = client_digest(key)
        return value

    def hit(self, key: str) -> Decision:
        digest = self._digests.get(key) or self._digest(key)
        keys, state, rate, burst = self._keys, self._state, self.rate, self.burst
        with self._lock:
            now = time.monotonic()  # one clock for every process of the host
            idle_since = now - self._full_after
            slot, found = find_slot(keys, digest, lambda slot: state[2 * slot + 1] <= idle_since)
            if found:
                tokens = min(burst, state[2 * slot] + max(0.0, now - state[2 * slot + 1]) * rate)
            elif slot < 0:
                return self._overflow.hit(key)
            else:
                keys[slot] = digest
                tokens = float(burst)
            allowed = tokens >= 1.0
            if allowed:
                tokens -= 1.0
            state[2 * slot] = tokens
            state[2 * slot + 1] = now
        if allowed:
            return Decision(True, burst, int(tokens), 0)
        return Decision(False, burst, 0, max(1, math.ceil((1.0 - tokens) / rate)))
