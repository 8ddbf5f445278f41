"""Read replicas: which pool a read goes to, and read-your-writes for the caller who wrote.

With `DATABASE_REPLICA_URLS` each worker has a Tortoise connection `replica<N>` per replica
beside `default` (the primary). Reads the repositories mark as such (`Sql.reader()`) go to a
replica that is up, no more than `REPLICA_MAX_LAG_SECONDS` behind, and (for a caller who
wrote recently) has replayed the caller's last write; anything else goes to the primary:
writes, transactions, and every read no replica can serve right now. With
`REPLICA_PRIMARY_READ_SHARE` the primary also keeps that share of the reads a replica could
serve, so that with N replicas of its size, 1 / (N + 1) spreads the reads evenly over all.

Health and lag: a background task per worker (`ReplicaRouter.watch`) samples the primary's
WAL insert position and each replica's replayed position a few times a second. A replica's
lag is the age of the newest primary sample it has replayed past: an idle primary means no
lag whatever the last replayed transaction's age, and a replica whose replay is paused falls
behind as soon as the primary writes. A probe or a read that fails marks the replica down;
the probe brings it back (retried with a growing delay while it keeps failing).

Read-your-writes: after a write commits (`@writes`) for a signed-in caller (`caller`, set by
the auth layer), the primary's WAL insert position is recorded in the shared `WritePositions`
store (Redis: every instance sees it) and in this worker's memory. That caller's reads then use
only replicas whose replayed position is at or past it; when the position cannot be read
(Redis down, or down within the last moments), the caller's reads go to the primary.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ParamSpec, Protocol, TypeVar

import asyncpg
from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient

log = logging.getLogger("halo.db.replicas")

P = ParamSpec("P")
R = TypeVar("R")

POLL_SECONDS = 0.25
PROBE_TIMEOUT_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 5.0
# How long a caller's write position is kept: far beyond any lag a usable replica may have
# (a replica within REPLICA_MAX_LAG_SECONDS has replayed every write older than that).
POSITION_TTL_SECONDS = 300
UNKNOWN_POSITION = 2**62  # past any real position: no replica qualifies

# The signed-in caller of the current request (None: anonymous or background work).
caller: contextvars.ContextVar[int | None] = contextvars.ContextVar("halo_db_caller", default=None)
# Reads that must see every write committed before them, whoever wrote it: the primary's (a list
# page cached under the lists mark read before it, halo.services.first_pages).
primary_only: contextvars.ContextVar[bool] = contextvars.ContextVar("halo_db_primary_only", default=False)

_PRIMARY_POSITION = "SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint AS lsn"
_REPLICA_POSITION = (
    "SELECT pg_is_in_recovery() AS standby, (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint AS lsn"
)


class PositionsUnavailable(Exception):
    """The shared store of write positions cannot answer (or may have lost some)."""


class WritePositions(Protocol):
    """Where each caller's last write position is kept, shared by every instance."""

    async def get(self, user_id: int) -> int | None:
        """The caller's last recorded position; raises PositionsUnavailable when unknown."""
        ...

    async def put(self, user_id: int, lsn: int, ttl_seconds: int) -> None:
        """Record a position (never lowering a higher one); raises PositionsUnavailable."""
        ...


class MemoryWritePositions:
    """The single-process store (no Redis): a dict with expiries."""

    def __init__(self) -> None:
        self._positions: dict[int, tuple[int, float]] = {}

    async def get(self, user_id: int) -> int | None:
        entry = self._positions.get(user_id)
        if entry is None or entry[1] <= time.monotonic():
            return None
        return entry[0]

    async def put(self, user_id: int, lsn: int, ttl_seconds: int) -> None:
        current = await self.get(user_id)
        self._positions[user_id] = (max(lsn, current or 0), time.monotonic() + ttl_seconds)
        if len(self._positions) > 100_000:  # bounded: drop the expired ones
            now = time.monotonic()
            self._positions = {key: value for key, value in self._positions.items() if value[1] > now}


@dataclass
class Replica:
    """One replica as this worker sees it."""

    name: str  # the Tortoise connection's name, and the metrics' pool label
    url: str
    up: bool = False  # unknown until the first probe answers
    replayed: int = -1
    lag: float = float("inf")
    failures: int = 0
    retry_at: float = 0.0
    _probe: asyncpg.Connection | None = field(default=None, repr=False)

    @property
    def client(self) -> BaseDBAsyncClient:
        return connections.get(self.name)


class ReplicaRouter:
    """Chooses the pool of each read; one per worker."""

    def __init__(
        self,
        urls: list[str],
        *,
        max_lag_seconds: float,
        positions: WritePositions,
        primary_read_share: float = 0.0,
        probe_timeout: float = PROBE_TIMEOUT_SECONDS,
        poll_seconds: float = POLL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.replicas = [Replica(f"replica{index}", url) for index, url in enumerate(urls)]
        self.max_lag = max_lag_seconds
        self.primary_read_share = primary_read_share
        self._positions = positions
        self._probe_timeout = probe_timeout
        self._poll = poll_seconds
        self._clock = clock
        # (time, primary WAL insert position) samples, newest last
        self._history: deque[tuple[float, int]] = deque()
        self._history_seconds = max(4 * max_lag_seconds, 10.0)
        self._own: dict[int, tuple[int, float]] = {}  # this worker's callers' last writes
        # After the positions store failed, nobody can tell which writes it missed: until every
        # write older than the failure is surely replayed (lag bound), signed-in reads use the primary.
        self._positions_suspect_until = 0.0
        self.on_fallback: list[Callable[[str], None]] = []  # reason: lag, down, read_your_writes
        self.on_read: list[Callable[[str, str], None]] = []  # pool, role
        self.on_state: list[Callable[[Replica], None]] = []
        self._chores: set[asyncio.Task[None]] = set()

    # --- the read path ------------------------------------------------------------

    def usable(self) -> list[Replica]:
        return [replica for replica in self.replicas if replica.up and replica.lag <= self.max_lag]

    async def choose(self) -> Replica | None:
        """The replica for a read now, or None for the primary (the fallback's reason counted)."""
        if primary_only.get():
            return None
        usable = self.usable()
        if not usable:
            self._fallback("down" if any(not replica.up for replica in self.replicas) else "lag")
            return None
        if self.primary_read_share and random.random() < self.primary_read_share:  # noqa: S311 - load spreading
            return None  # REPLICA_PRIMARY_READ_SHARE: the primary takes its share of the reads
        user = caller.get()
        if user is not None:
            needed = await self._needed(user)
            if needed is None:
                self._fallback("read_your_writes")
                return None
            usable = [replica for replica in usable if replica.replayed >= needed]
            if not usable:
                self._fallback("read_your_writes")
                return None
        return usable[0] if len(usable) == 1 else random.choice(usable)  # noqa: S311 - load spreading

    async def _needed(self, user: int) -> int | None:
        """The position a replica must have replayed for this caller; None when it cannot be known."""
        if self._clock() < self._positions_suspect_until:
            return None
        own = self._own.get(user)
        mine = own[0] if own is not None and own[1] > self._clock() else 0
        try:
            shared = await self._positions.get(user)
        except PositionsUnavailable:
            self.positions_failed()
            return None
        return max(mine, shared or 0)

    def positions_failed(self) -> None:
        """The shared positions store failed (a call or its link's probe)."""
        self._positions_suspect_until = self._clock() + 2 * self.max_lag + 2 * self._poll + 1.0

    def read(self, replica: Replica | None) -> None:
        for hook in self.on_read:
            hook("primary" if replica is None else replica.name, "primary" if replica is None else "replica")

    def failed(self, replica: Replica, exc: BaseException) -> None:
        """A read on `replica` failed: skip it until a probe answers again."""
        self._mark_down(replica, f"read failed: {type(exc).__name__}: {exc}")
        self._fallback("down")

    def _fallback(self, reason: str) -> None:
        for hook in self.on_fallback:
            hook(reason)

    # --- the write path -----------------------------------------------------------

    async def wrote(self) -> None:
        """After a write committed on the primary: remember its position for the caller."""
        user = caller.get()
        if user is None:
            return
        ttl = max(POSITION_TTL_SECONDS, int(4 * self.max_lag) + 60)
        try:
            rows = await connections.get("default").execute_query_dict(_PRIMARY_POSITION)
            lsn = int(rows[0]["lsn"])
        except Exception as exc:  # the write is done, its position unknown: the primary only, for a while
            log.warning("write position unknown (%s); the caller reads from the primary", exc)
            lsn, ttl = UNKNOWN_POSITION, int(2 * self.max_lag + 10)
        own = self._own.get(user)
        self._own[user] = (max(lsn, own[0] if own else 0), self._clock() + ttl)
        if len(self._own) > 10_000:
            now = self._clock()
            self._own = {key: value for key, value in self._own.items() if value[1] > now}
        try:
            await self._positions.put(user, lsn, ttl)
        except PositionsUnavailable:
            # Other instances find the store down too (their reads for signed-in callers go to
            # the primary), and keep doing so for a while after it comes back.
            self.positions_failed()

    # --- health and lag -----------------------------------------------------------

    async def watch(self) -> None:
        """Probe the primary and the replicas forever (a background task per worker)."""
        try:
            while True:
                await self.probe_all()
                await asyncio.sleep(self._poll)
        finally:
            await self.close()

    async def probe_all(self) -> None:
        now = self._clock()
        while self._history and self._history[0][0] < now - self._history_seconds:
            self._history.popleft()
        await asyncio.gather(
            self._sample_primary(now),
            *(self._probe(replica) for replica in self.replicas if replica.retry_at <= now),
        )

    async def _sample_primary(self, now: float) -> None:
        # Through the primary's pool, uncancelled (its statement timeout bounds it): a query
        # cancelled half-way could leave its connection checked out.
        try:
            rows = await connections.get("default").execute_query_dict(_PRIMARY_POSITION)
        except Exception as exc:  # the primary is readiness's concern; replica lags grow meanwhile
            log.debug("primary position unknown: %s", exc)
            return
        position = int(rows[0]["lsn"])
        if not self._history or self._history[-1][0] <= now:
            self._history.append((now, position))

    async def _probe(self, replica: Replica) -> None:
        try:
            if replica._probe is None or replica._probe.is_closed():
                replica._probe = await asyncpg.connect(
                    replica.url,
                    timeout=self._probe_timeout,
                    command_timeout=self._probe_timeout,
                    server_settings={"application_name": "halo-replica-probe"},
                    # no named statements: a replica may sit behind PgBouncer in transaction mode
                    # (DATABASE_POOLER), where the next probe may run on another server connection
                    statement_cache_size=0,
                )
            row = await asyncio.wait_for(replica._probe.fetchrow(_REPLICA_POSITION), self._probe_timeout)
        except Exception as exc:
            await self._drop_probe(replica)
            self._mark_down(replica, f"probe failed: {type(exc).__name__}: {exc}")
            return
        if not row["standby"] or row["lsn"] is None:
            self._mark_down(replica, "not a standby (promoted?)")
            return
        replica.replayed = int(row["lsn"])
        replica.lag = self.lag_of(replica.replayed)
        if not replica.up:
            log.info("replica %s is up (lag %.2fs)", replica.name, replica.lag)
        replica.up = True
        replica.failures = 0
        replica.retry_at = 0.0
        self._state(replica)

    def lag_of(self, replayed: int) -> float:
        """Seconds since the primary had no more than `replayed`: the newest such sample's age."""
        if not self._history:
            return float("inf")
        now = self._clock()
        if self._history[-1][1] <= replayed:
            return 0.0
        for sampled_at, position in reversed(self._history):
            if position <= replayed:
                return max(0.0, now - sampled_at)
        return max(self._history_seconds, now - self._history[0][0])

    def _mark_down(self, replica: Replica, reason: str) -> None:
        if replica.up:
            log.warning("replica %s skipped: %s", replica.name, reason)
            try:  # its pooled connections may be dead: new ones after it recovers
                pool = getattr(replica.client, "_pool", None)
                if isinstance(pool, asyncpg.Pool):
                    chore = asyncio.get_running_loop().create_task(pool.expire_connections())
                    self._chores.add(chore)
                    chore.add_done_callback(self._chores.discard)
            except Exception:  # noqa: S110 - not opened yet
                pass
        replica.up = False
        replica.failures += 1
        delay = min(MAX_BACKOFF_SECONDS, self._poll * 2 ** min(replica.failures - 1, 6))
        replica.retry_at = self._clock() + delay
        self._state(replica)

    def _state(self, replica: Replica) -> None:
        for hook in self.on_state:
            hook(replica)

    async def _drop_probe(self, replica: Replica) -> None:
        connection, replica._probe = replica._probe, None
        if connection is not None:
            connection.terminate()

    async def close(self) -> None:
        for replica in self.replicas:
            await self._drop_probe(replica)


# --- this process's router -----------------------------------------------------------

_router: ReplicaRouter | None = None


def install(router: ReplicaRouter | None) -> None:
    """Set this process's router (None: every read on the primary)."""
    global _router
    _router = router


def router() -> ReplicaRouter | None:
    return _router


def writes(func: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """A repository write: once it has committed, the caller's reads must see it (read-your-writes)."""

    @functools.wraps(func)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        result = await func(*args, **kwargs)
        if _router is not None:
            await _router.wrote()
        return result

    return wrapper


def replica_connection(primary: dict[str, Any], url: str) -> dict[str, Any]:
    """A replica's Tortoise connection: the primary's settings (pool, timeouts, pooler options),
    with what the replica's URL says (address, login, database, options such as `ssl`)."""
    from tortoise.backends.base.config_generator import expand_db_url

    credentials = dict(primary["credentials"])
    credentials.update(expand_db_url(url)["credentials"])
    return {"engine": primary["engine"], "credentials": credentials}
