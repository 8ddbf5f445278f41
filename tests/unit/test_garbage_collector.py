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
def test_cycles_made_after_start_up_are_still_collected() -> None:
    settle_garbage_collector()

    class Node:
        partner: object = None

    first, second = Node(), Node()
    first.partner, second.partner = second, first
    del first, second
    assert gc.collect() >= 2
