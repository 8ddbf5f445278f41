"""A started worker freezes what start-up built and collects young objects less often."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from halo.app import GC_YOUNG_THRESHOLD, settle_garbage_collector


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restored_gc")
def test_start_up_objects_are_frozen_and_young_collections_are_rarer() -> None:
    gc.unfreeze()
    built_at_start_up = [{"route": n} for n in range(1000)]
    settle_garbage_collector()
    assert gc.get_freeze_count() >= len(built_at_start_up)
    assert gc.get_threshold()[0] == GC_YOUNG_THRESHOLD > 700


@pytest.mark.usefixtures("restored_gc")
def test_the_collector_still_runs_by_itself_after_start_up() -> None:
    """Cycles made while serving are still found, by automatic young collections (not only by an
    explicit gc.collect(), which would pass even with the collector switched off)."""
    settle_garbage_collector()
    collections: list[int] = []

    def seen(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections.append(info["generation"])

    gc.callbacks.append(seen)
    try:
        held = [[] for _ in range(3 * GC_YOUNG_THRESHOLD)]  # container allocations, as requests make
    finally:
        gc.callbacks.remove(seen)
    assert held and 0 in collections
