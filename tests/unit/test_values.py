"""`@value` classes: what a frozen dataclass offers callers, made without `object.__setattr__`."""

from __future__ import annotations

import dataclasses

import pytest

from halo.engagement.store import Snapshot, ViewTally


def test_equal_and_hashable_by_their_fields_as_a_frozen_dataclass() -> None:
    one, same, other = ViewTally(3, ((1, 2),)), ViewTally(3, ((1, 2),)), ViewTally(4)
    assert one == same and hash(one) == hash(same)
    assert one != other
    assert len({one, same, other}) == 2


def test_changed_by_replace_and_no_room_for_other_attributes() -> None:
    snapshot = Snapshot(None, ViewTally(), 0)
    changed = dataclasses.replace(snapshot, liked=True)
    assert (snapshot.liked, changed.liked) == (None, True)
    with pytest.raises(AttributeError):
        snapshot.something_else = 1  # type: ignore[attr-defined]  # slots: no instance dict
