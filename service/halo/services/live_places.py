"""Places for live sockets, counted for the whole instance: at most `WS_MAX_CONNECTIONS` sockets
and at most `WS_MAX_CONNECTIONS_PER_IP` per client, whichever worker each socket landed on.

A place is taken when an upgrade is admitted (before the handshake) and given back when its
socket closes, or when an admitted upgrade never opens. Checking both caps and taking the place
is one step, so upgrades arriving at once on several workers cannot all pass.

- `LocalPlaces`: one worker, an ordinary counter.
- `SharedPlaces`: the workers of one `halo serve` share a `PlaceTable` in shared memory, made by
  the main process before the workers start (Sanic's `shared_ctx`). Each worker writes only its
  own column: the places it holds per client, and its total. A client's places are the sum over
  the columns of live workers. A worker that dies leaves its column behind; it stops counting at
  once (its process is gone) and the worker that replaces it clears it and takes it over.

Clients are found as `halo.shared_tables` finds them (a digest, a probe window); a slot whose
client holds no place on any live worker is taken over. The table has four slots for every socket
the instance may hold, so it is at most a quarter full of clients holding places; an upgrade whose
probe window is full of them anyway is refused (429) rather than counted nowhere.
"""

from __future__ import annotations

import ctypes
import logging
import os
from dataclasses import dataclass
from enum import Enum
from multiprocessing.context import BaseContext
from typing import Any, Protocol

from halo.shared_tables import client_digest, find_slot, slot_count

log = logging.getLogger("halo.live")

MIN_SLOTS = 1024
MAX_SLOTS = 1 << 20
COUNT_BYTES = ctypes.sizeof(ctypes.c_int32)
SPARE_COLUMNS = 2  # a replacement worker may start before the column of the one it replaces is free


class Refusal(Enum):
    FULL = "full"  # the instance holds WS_MAX_CONNECTIONS places: 503
    CLIENT = "client"  # this client holds WS_MAX_CONNECTIONS_PER_IP places: 429


class Places(Protocol):
    def take(self, client: str) -> Refusal | None:
        """Take a place for the client when both caps allow it; the refusal otherwise."""

    def add(self, client: str) -> None:
        """Take a place whatever the caps (a socket opened without an admission)."""

    def give_back(self, client: str) -> None:
        """Give back one place the client holds."""

    def has_room(self) -> bool:
        """Whether the instance holds fewer places than its cap."""


class LocalPlaces:
    """The places of a single worker."""

    def __init__(self, capacity: int, per_client: int | None) -> None:
        self._capacity = capacity
        self._per_client = per_client
        self._by_client: dict[str, int] = {}
        self._held = 0

    def take(self, client: str) -> Refusal | None:
        if self._held >= self._capacity:
            return Refusal.FULL
        if self._per_client is not None and self._by_client.get(client, 0) >= self._per_client:
            return Refusal.CLIENT
        self.add(client)
        return None

    def add(self, client: str) -> None:
        self._by_client[client] = self._by_client.get(client, 0) + 1
        self._held += 1

    def give_back(self, client: str) -> None:
        left = self._by_client.get(client, 0) - 1
        if left > 0:
            self._by_client[client] = left
        else:
            self._by_client.pop(client, None)
        self._held = max(0, self._held - 1)

    def has_room(self) -> bool:
        return self._held < self._capacity


@dataclass(frozen=True)
class PlaceTable:
    """The shared memory: made once in the main process, handed to every worker."""

    lock: Any  # multiprocessing Lock
    keys: Any  # c_uint64 * slots: a client's digest, 0 for a slot never used
    counts: Any  # c_int32 * (columns * (slots + 1)): per column, places per slot, then its total
    owners: Any  # c_int64 * columns: the pid of the worker that writes the column, 0 for none

    @classmethod
    def create(cls, context: BaseContext, capacity: int, workers: int) -> PlaceTable:
        slots = slot_count(4 * capacity, MIN_SLOTS, MAX_SLOTS)
        columns = workers + SPARE_COLUMNS
        return cls(
            lock=context.Lock(),
            keys=context.Array(ctypes.c_uint64, slots, lock=False),  # type: ignore[attr-defined]
            counts=context.Array(ctypes.c_int32, columns * (slots + 1), lock=False),  # type: ignore[attr-defined]
            owners=context.Array(ctypes.c_int64, columns, lock=False),  # type: ignore[attr-defined]
        )

    def shareable(self) -> tuple[Any, ...]:
        """What Sanic's `shared_ctx` carries to the workers (multiprocessing objects only)."""
        return (self.lock, self.keys, self.counts, self.owners)

    @classmethod
    def from_shared(cls, shared: tuple[Any, ...]) -> PlaceTable:
        return cls(*shared)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - a process of another user holds the pid
        return True
    return True


class SharedPlaces:
    """This worker's view of the instance's `PlaceTable`."""

    def __init__(self, table: PlaceTable, capacity: int, per_client: int | None, column: int) -> None:
        self._table = table
        self._capacity = capacity
        self._per_client = per_client
        self._slots = len(table.keys)
        self._stride = self._slots + 1
        self._columns = len(table.owners)
        self._column = column
        self._mine = column * self._stride

    @classmethod
    def attach(cls, table: PlaceTable, capacity: int, per_client: int | None) -> SharedPlaces | None:
        """Take a column for this process: a free one, or one whose worker is gone (cleared first).
        None when every column belongs to a live worker."""
        pid = os.getpid()
        with table.lock:
            owners = table.owners
            for column in range(len(owners)):
                owner = owners[column]
                if owner == pid or owner == 0 or not _alive(owner):
                    stride = (len(table.keys) + 1) * COUNT_BYTES
                    ctypes.memset(ctypes.addressof(table.counts) + column * stride, 0, stride)
                    owners[column] = pid
                    return cls(table, capacity, per_client, column)
        return None

    def detach(self) -> None:
        """This worker holds nothing any more (it is stopping)."""
        table = self._table
        with table.lock:
            ctypes.memset(
                ctypes.addressof(table.counts) + self._mine * COUNT_BYTES, 0, self._stride * COUNT_BYTES
            )
            table.owners[self._column] = 0

    def _live_columns(self) -> list[int]:
        """The start of each column whose worker is alive (this one included)."""
        owners = self._table.owners
        me = self._column
        return [
            column * self._stride
            for column in range(self._columns)
            if column == me or (owners[column] != 0 and _alive(owners[column]))
        ]

    def _find(self, digest: int, counts: Any, columns: list[int], insert: bool) -> int | None:
        """The slot of the digest; with `insert`, a new one when it has none (None: no room). A slot
        whose client holds no place on any live worker is taken over."""
        slot, found = find_slot(
            self._table.keys, digest, lambda slot: not any(counts[column + slot] for column in columns)
        )
        if found:
            return slot
        if insert and slot >= 0:
            self._table.keys[slot] = digest
            return slot
        return None

    def take(self, client: str) -> Refusal | None:
        digest = client_digest(client)
        table = self._table
        counts = table.counts
        total = self._slots
        with table.lock:
            columns = self._live_columns()
            if sum(counts[column + total] for column in columns) >= self._capacity:
                return Refusal.FULL
            slot = self._find(digest, counts, columns, insert=True)
            if slot is None:
                return Refusal.CLIENT
            if (
                self._per_client is not None
                and sum(counts[column + slot] for column in columns) >= self._per_client
            ):
                return Refusal.CLIENT
            counts[self._mine + slot] += 1
            counts[self._mine + total] += 1
        return None

    def add(self, client: str) -> None:
        digest = client_digest(client)
        table = self._table
        with table.lock:
            slot = self._find(digest, table.counts, self._live_columns(), insert=True)
            if slot is not None:
                table.counts[self._mine + slot] += 1
            table.counts[self._mine + self._slots] += 1

    def give_back(self, client: str) -> None:
        digest = client_digest(client)
        table = self._table
        counts = table.counts
        with table.lock:
            slot = self._find(digest, counts, [self._mine], insert=False)
            if slot is not None and counts[self._mine + slot] > 0:
                counts[self._mine + slot] -= 1
            if counts[self._mine + self._slots] > 0:
                counts[self._mine + self._slots] -= 1

    def has_room(self) -> bool:
        counts = self._table.counts
        with self._table.lock:
            return sum(counts[column + self._slots] for column in self._live_columns()) < self._capacity
