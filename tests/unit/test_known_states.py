"""KnownStates: the callers' states a worker falls back on while PostgreSQL cannot be reached."""

from __future__ import annotations

from halo.repositories.users import AuthState
from halo.services.auth import KnownStates


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def state(user_id: int, adult: bool = False) -> AuthState:
    return AuthState(user_id, adult, adult)


def test_a_state_is_recalled_until_it_is_older_than_the_bound() -> None:
    clock = Clock()
    known = KnownStates(max_age=300, clock=clock)
    known.remember(7, state(7, adult=True))
    clock.now += 300
    assert known.recall(7) == state(7, adult=True)
    clock.now += 0.5
    assert known.recall(7) is None
    known.remember(7, state(7))  # read again: young again, and the newer answer
    assert known.recall(7) == state(7)


def test_a_user_postgresql_no_longer_has_is_forgotten() -> None:
    known = KnownStates(clock=Clock())
    known.remember(7, state(7))
    known.remember(7, None)
    assert known.recall(7) is None
    assert known.recall(8) is None  # never seen


def test_past_the_limit_the_caller_seen_least_recently_is_forgotten() -> None:
    known = KnownStates(limit=3, clock=Clock())
    for user_id in (1, 2, 3):
        known.remember(user_id, state(user_id))
    known.remember(1, state(1))  # seen again: now the most recent
    known.remember(4, state(4))
    assert known.recall(2) is None
    assert [known.recall(user_id) for user_id in (1, 3, 4)] == [state(1), state(3), state(4)]
