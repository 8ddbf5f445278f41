"""Per-client token buckets shared by the workers of one instance.

With `RATE_LIMIT_BACKEND=local` and several workers, a client's requests land on whichever worker
accepted its connection; buckets of each worker's own would let it through once per worker. Here
the main process makes one `BucketTable` in shared memory before the workers start (Sanic's
`shared_ctx`), and every worker takes its tokens from it under one lock: a client has one bucket for
the instance, as with a single worker. `RATE_LIMIT_BACKEND=redis` makes it one for the fleet.

A bucket is a client's 64-bit digest, its tokens and when they were counted, in open addressing with
linear probing over at most `PROBES` slots. A bucket idle long enough to refill is the same as none,
so its slot is taken over by the next new client that probes it; the table has two slots for every
client `RATE_LIMIT_MAX_CLIENTS` allows. A client that finds no slot in its probe window (not seen in
practice at that load) is limited by the worker's own buckets instead.
"""

from __future__ import annotations

import ctypes
import hashlib
import math
import time
from dataclasses import dataclass
from multiprocessing.context import BaseContext
from typing import Any

from halo.security.token_bucket import Decision, TokenBucketLimiter

PROBES = 64
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
        slots = MIN_SLOTS
        while slots < 2 * max_clients and slots < MAX_SLOTS:
            slots *= 2
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
        self._mask = len(table.keys) - 1
        self._digests: dict[str, int] = {}

    def _digest(self, key: str) -> int:
        if len(self._digests) >= DIGESTS_KEPT:
            self._digests.clear()
        value = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little") or 1
        self._digests[key] = value  # 0 marks a slot never used
        return value

    def hit(self, key: str) -> Decision:
        digest = self._digests.get(key) or self._digest(key)
        keys, state, mask, rate, burst = self._keys, self._state, self._mask, self.rate, self.burst
        start = digest & mask
        with self._lock:
            now = time.monotonic()  # one clock for every process of the host
            idle_since = now - self._full_after
            reusable = -1
            for probe in range(PROBES):
                slot = (start + probe) & mask
                found = keys[slot]
                if found == digest:
                    tokens = min(burst, state[2 * slot] + max(0.0, now - state[2 * slot + 1]) * rate)
                    break
                if found == 0:  # never used: the digest is in no later slot
                    if reusable < 0:
                        reusable = slot
                    break
                if reusable < 0 and state[2 * slot + 1] <= idle_since:
                    reusable = slot  # refilled by now: the same as no bucket
            else:
                found = 0
            if found != digest:
                if reusable < 0:
                    return self._overflow.hit(key)
                slot = reusable
                keys[slot] = digest
                tokens = float(burst)
            if tokens >= 1.0:
                tokens -= 1.0
                state[2 * slot] = tokens
                state[2 * slot + 1] = now
                return Decision(True, burst, int(tokens), 0)
            state[2 * slot] = tokens
            state[2 * slot + 1] = now
        return Decision(False, burst, 0, max(1, math.ceil((1.0 - tokens) / rate)))
