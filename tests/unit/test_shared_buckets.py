"""Rate-limit buckets shared by the workers of one instance: real processes on one table."""

from __future__ import annotations

import multiprocessing
from multiprocessing.context import SpawnContext
from types import SimpleNamespace
from typing import Any

import pytest

from halo import shared_tables
from halo.security import shared_buckets
from halo.security.shared_buckets import BucketTable, SharedTokenBuckets
from halo.security.token_bucket import TokenBucketLimiter

SPAWN: SpawnContext = multiprocessing.get_context("spawn")


def _worker(shared: tuple[Any, ...], start: Any, results: Any) -> None:
    buckets = SharedTokenBuckets(BucketTable.from_shared(shared), TokenBucketLimiter(0.001, 10))
    start.wait()  # every process fires at once
    allowed = {client: 0 for client in ("198.51.100.1", "2001:db8:1:2::/64")}
    for _ in range(50):
        for client in allowed:
            allowed[client] += buckets.hit(client).allowed
    results.put(allowed)


def test_processes_hitting_at_once_share_one_bucket_per_client() -> None:
    table = BucketTable.create(SPAWN, max_clients=100)
    start = SPAWN.Barrier(4)
    results = SPAWN.Queue()
    processes = [SPAWN.Process(target=_worker, args=(table.shareable(), start, results)) for _ in range(4)]
    for process in processes:
        process.start()
    answers = [results.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(timeout=60)
    for client in ("198.51.100.1", "2001:db8:1:2::/64"):
        assert sum(answer[client] for answer in answers) == 10  # the burst, not 10 per process


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


def test_decisions_match_a_single_processs_buckets(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    monkeypatch.setattr(shared_buckets, "time", SimpleNamespace(monotonic=clock.monotonic))
    alone = TokenBucketLimiter(2.0, 3, clock=clock.monotonic)
    shared = SharedTokenBuckets(BucketTable.create(SPAWN, max_clients=100), TokenBucketLimiter(2.0, 3))
    steps = [0, 0, 0, 0, 0.2, 0.3, 0, 1.0, 0, 0, 0, 5.0, 0]
    for step in steps:
        clock.now += step
        for client in ("a", "b"):
            assert shared.hit(client) == alone.hit(client)


def test_an_idle_full_bucket_gives_its_slot_to_a_new_client_and_a_full_window_overflows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = Clock()
    monkeypatch.setattr(shared_buckets, "time", SimpleNamespace(monotonic=clock.monotonic))
    monkeypatch.setattr(shared_tables, "PROBES", 2)
    table = BucketTable.create(SPAWN, max_clients=100)
    overflow = TokenBucketLimiter(1.0, 2, clock=clock.monotonic)
    buckets = SharedTokenBuckets(table, overflow)
    buckets._digests.update({"a": 1024, "b": 2048, "c": 3072})  # all probe from slot 0
    assert buckets.hit("a").remaining == 1
    assert [buckets.hit("b").remaining for _ in range(2)] == [1, 0]
    assert buckets.hit("c").remaining == 1 and len(overflow) == 1  # no slot in its window: the worker's own
    clock.now += 0.5
    assert not buckets.hit("b").allowed  # found where it was (half a token), not started afresh
    clock.now += 1.5  # "a" is full again, "b" is not
    assert buckets.hit("c").remaining == 1  # takes the slot of idle "a"
    assert list(table.keys[:3]) == [3072, 2048, 0]
    assert buckets.hit("c").remaining == 0 and not buckets.hit("c").allowed
