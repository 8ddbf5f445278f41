"""Tables in shared memory, keyed by client, for the workers of one instance.

`halo.services.live_places` (live-socket places) and `halo.security.shared_buckets` (rate-limit
buckets) keep one row per client in arrays the main process makes before the workers start and
hands them through Sanic's `shared_ctx`. Both find a client's row the same way: a 64-bit digest of
the client, open addressing with linear probing over at most `PROBES` slots, and a slot whose row
no longer matters (a client that holds nothing, a bucket refilled) taken over by a new client.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

PROBES = 64


def client_digest(client: str) -> int:
    """A client's key in a table: the same in every process (unlike `hash`), never 0."""
    value = int.from_bytes(hashlib.blake2b(client.encode(), digest_size=8).digest(), "little")
    return value or 1  # 0 marks a slot never used


def slot_count(wanted: int, minimum: int, maximum: int) -> int:
    """The power of two from `minimum` up to `maximum` that holds `wanted` slots."""
    slots = minimum
    while slots < wanted and slots < maximum:
        slots *= 2
    return slots


def find_slot(keys: Any, digest: int, reusable: Callable[[int], bool]) -> tuple[int, bool]:
    """The digest's slot and True; else (where it would go, False): the first slot of its probe
    window that is never used or `reusable`; (-1, False) when there is none. Keys are never
    cleared, so a slot never used ends the search: the digest is in no later slot."""
    mask = len(keys) - 1
    start = digest & mask
    free = -1
    for probe in range(PROBES):
        slot = (start + probe) & mask
        key = keys[slot]
        if key == digest:
            return slot, True
        if key == 0:
            return (slot if free < 0 else free), False
        if free < 0 and reusable(slot):
            free = slot
    return free, False
