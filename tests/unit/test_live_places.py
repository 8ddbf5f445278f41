"""Live-socket places shared by the workers of one instance: real processes on one table."""

from __future__ import annotations

import multiprocessing
import os
from multiprocessing.context import SpawnContext
from typing import Any

import pytest

from halo.services.live_places import LocalPlaces, PlaceTable, Refusal, SharedPlaces

SPAWN: SpawnContext = multiprocessing.get_context("spawn")


def _worker(shared: tuple[Any, ...], start: Any, clients: list[str], tries: int, results: Any) -> None:
    places = SharedPlaces.attach(PlaceTable.from_shared(shared), capacity=1000, per_client=5)
    assert places is not None
    start.wait()  # every process fires at once
    taken = 0
    for _ in range(tries):
        for client in clients:
            taken += places.take(client) is None
    results.put((os.getpid(), taken))
    start.wait()  # hold the places until every process has counted


def test_processes_taking_places_at_once_get_at_most_the_clients_cap_between_them() -> None:
    table = PlaceTable.create(SPAWN, capacity=1000, workers=4)
    start = SPAWN.Barrier(4)
    results = SPAWN.Queue()
    clients = ["198.51.100.1", "198.51.100.2", "2001:db8:1:2::/64"]
    processes = [
        SPAWN.Process(target=_worker, args=(table.shareable(), start, clients, 20, results)) for _ in range(4)
    ]
    for process in processes:
        process.start()
    taken = [results.get(timeout=60)[1] for _ in processes]
    for process in processes:
        process.join(timeout=60)
    assert sum(taken) == 5 * len(clients)  # each client's cap, across all four processes


def _hold_and_die(shared: tuple[Any, ...], done: Any) -> None:
    places = SharedPlaces.attach(PlaceTable.from_shared(shared), capacity=3, per_client=2)
    assert places is not None
    assert places.take("198.51.100.5") is None
    assert places.take("198.51.100.5") is None
    done.set()
    os._exit(0)  # killed: nothing given back


def test_a_dead_workers_places_stop_counting_and_its_column_is_taken_over() -> None:
    table = PlaceTable.create(SPAWN, capacity=3, workers=1)  # one worker and the spare columns
    done = SPAWN.Event()
    process = SPAWN.Process(target=_hold_and_die, args=(table.shareable(), done))
    process.start()
    process.join(timeout=60)
    assert done.is_set()
    here = SharedPlaces.attach(table, capacity=3, per_client=2)
    assert here is not None
    assert here.take("198.51.100.5") is None  # the dead worker's two no longer count
    assert here.take("198.51.100.5") is None
    assert here.take("198.51.100.5") is Refusal.CLIENT
    assert here.take("198.51.100.7") is None
    assert here.take("198.51.100.8") is Refusal.FULL  # three places on the instance
    here.give_back("198.51.100.5")
    assert here.take("198.51.100.8") is None
    here.detach()


def test_columns_run_out_only_when_every_owner_is_alive() -> None:
    table = PlaceTable.create(SPAWN, capacity=10, workers=1)
    columns = len(table.owners)
    table.owners[:] = [os.getppid()] * columns  # a live process holds every column
    assert SharedPlaces.attach(table, capacity=10, per_client=2) is None
    table.owners[0] = 0
    assert SharedPlaces.attach(table, capacity=10, per_client=2) is not None


def test_a_slot_whose_client_holds_nothing_is_reused_without_losing_the_clients_after_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from halo.services import live_places

    monkeypatch.setattr(
        live_places, "client_digest", lambda client: 1024 * (1 + int(client))
    )  # all start at slot 0
    table = PlaceTable.create(SPAWN, capacity=100, workers=1)
    places = SharedPlaces.attach(table, capacity=100, per_client=1)
    assert places is not None
    for client in ("1", "2", "3"):
        assert places.take(client) is None
    places.give_back("1")  # slot 0 now holds a client with no place
    assert places.take("4") is None  # takes slot 0 over
    assert places.take("2") is Refusal.CLIENT and places.take("3") is Refusal.CLIENT  # still found further on
    assert places.take("4") is Refusal.CLIENT
    assert places.take("1") is None  # its old slot went to "4": found a free one
    assert list(table.keys[:5]) == [5120, 3072, 4096, 2048, 0]


def test_local_places_count_one_worker() -> None:
    places = LocalPlaces(capacity=2, per_client=1)
    assert places.take("a") is None and places.take("a") is Refusal.CLIENT
    places.add("a")  # a socket opened without admission: counted whatever the cap
    assert places.take("b") is Refusal.FULL and not places.has_room()
    places.give_back("a")
    places.give_back("a")
    assert places.has_room() and places.take("b") is None
