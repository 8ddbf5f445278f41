"""The read-replica router's choices: health, lag, and read-your-writes (no database involved).

The probes and the reads themselves run against a real streaming replica in
tests/e2e/test_read_replicas.py.
"""

from __future__ import annotations

import pytest

from halo.db.replicas import MemoryWritePositions, PositionsUnavailable, Replica, ReplicaRouter, caller


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Unreachable:
    """A positions store whose every call fails, as RedisWritePositions does while Redis is down."""

    async def get(self, user_id: int) -> int | None:
        raise PositionsUnavailable("down")

    async def put(self, user_id: int, lsn: int, ttl_seconds: int) -> None:
        raise PositionsUnavailable("down")


def router(positions: object | None = None, clock: Clock | None = None) -> tuple[ReplicaRouter, list[str]]:
    routing = ReplicaRouter(
        ["postgres://r0/db", "postgres://r1/db"],
        max_lag_seconds=1.0,
        positions=positions or MemoryWritePositions(),  # type: ignore[arg-type]
        clock=clock or Clock(),
    )
    reasons: list[str] = []
    routing.on_fallback.append(reasons.append)
    return routing, reasons


def healthy(replica: Replica, replayed: int = 100, lag: float = 0.0) -> None:
    replica.up, replica.replayed, replica.lag = True, replayed, lag


async def choose(routing: ReplicaRouter, user_id: int | None = None) -> Replica | None:
    token = caller.set(user_id)
    try:
        return await routing.choose()
    finally:
        caller.reset(token)


async def test_an_anonymous_read_goes_to_a_replica_that_is_up_and_current() -> None:
    routing, reasons = router()
    assert await choose(routing) is None  # nothing probed yet: the primary
    assert reasons == ["down"]
    healthy(routing.replicas[1])
    assert await choose(routing) is routing.replicas[1]
    routing.replicas[1].lag = 1.5  # beyond REPLICA_MAX_LAG_SECONDS
    routing.replicas[0].up = True
    routing.replicas[0].lag = 3.0
    assert await choose(routing) is None
    assert reasons == ["down", "lag"]


async def test_a_failed_read_skips_the_replica_until_a_probe_brings_it_back() -> None:
    routing, reasons = router()
    healthy(routing.replicas[0])
    routing.failed(routing.replicas[0], ConnectionError("gone"))
    assert not routing.replicas[0].up
    assert routing.replicas[0].retry_at > 0
    assert await choose(routing) is None
    assert reasons == ["down", "down"]


async def test_a_writer_reads_only_from_replicas_past_its_write() -> None:
    positions = MemoryWritePositions()
    routing, reasons = router(positions)
    healthy(routing.replicas[0], replayed=100)
    healthy(routing.replicas[1], replayed=300)
    await positions.put(7, 200, 60)  # user 7 wrote at 200 (on any instance)
    for _ in range(20):
        assert await choose(routing, 7) is routing.replicas[1]
    routing.replicas[1].replayed = 150
    assert await choose(routing, 7) is None
    assert reasons == ["read_your_writes"]
    assert await choose(routing, 8) is not None  # someone else: any current replica
    assert await choose(routing) is not None


async def test_an_unknown_write_position_means_the_primary_for_a_while() -> None:
    clock = Clock()
    routing, reasons = router(Unreachable(), clock)
    healthy(routing.replicas[0])
    assert await choose(routing, 7) is None  # cannot tell what user 7 wrote
    assert reasons == ["read_your_writes"]
    assert await choose(routing) is routing.replicas[0]  # anonymous reads need no position

    recovered, _ = router(MemoryWritePositions(), clock)
    healthy(recovered.replicas[0])
    recovered.positions_failed()  # the store failed: a write's position may have been lost
    assert await choose(recovered, 7) is None
    clock.now += 10  # every write older than the failure has been replayed by a current replica
    assert await choose(recovered, 7) is recovered.replicas[0]


@pytest.mark.parametrize(
    ("replayed", "lag"),
    [(500, 0.0), (400, 0.5), (300, 1.0), (100, 10.0)],
)
def test_lag_is_the_age_of_the_newest_primary_position_replayed(replayed: int, lag: float) -> None:
    clock = Clock()
    routing, _ = router(clock=clock)
    for age, position in ((1.0, 300), (0.5, 400), (0.0, 500)):
        routing._history.append((clock.now - age, position))
    assert routing.lag_of(replayed) == pytest.approx(lag)


async def test_the_primary_keeps_its_share_of_the_reads_and_no_fallback_is_counted() -> None:
    routing, reasons = router()
    routing.primary_read_share = 1 / 3  # two replicas and the primary: a third each
    for replica in routing.replicas:
        healthy(replica)
    chosen = [await choose(routing) for _ in range(3000)]
    counts = [chosen.count(None), chosen.count(routing.replicas[0]), chosen.count(routing.replicas[1])]
    assert all(800 <= count <= 1200 for count in counts), (
        counts
    )  # about 1,000 each (standard deviation about 26)
    assert reasons == []  # a share, not a fallback
    routing.replicas[0].up = routing.replicas[1].up = False
    assert await choose(routing) is None and reasons == ["down"]  # no replica: still counted as before
