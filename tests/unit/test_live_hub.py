"""The live hub and the socket pump: coalescing, one viewer per key, the latest message only,
slow clients dropped. The engagement store is the real in-process one; the video service is
replaced by a counter of reads (what is tested here is how often the hub reads, not the read)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from halo.api.live import _pump
from halo.engagement.memory_store import MemoryEngagementStore
from halo.redis.live_signals import LocalLiveSignals
from halo.services.engagement import Engagement, VideoView
from halo.services.errors import NotFound
from halo.services.live import NOT_FOUND, TOO_SLOW, LiveHub, LiveSocket
from halo.services.live_places import Refusal


@dataclass
class Row:
    id: int
    user_id: int = 1
    is_adult_content: bool = False


@dataclass
class CountingVideos:
    """Reads the live viewers from the real store, like the service would, and counts the reads."""

    store: MemoryEngagementStore
    reads: int = 0
    deleted: set[int] = field(default_factory=set)

    async def current(self, video_id: int) -> VideoView | None:
        self.reads += 1
        if video_id in self.deleted:
            return None
        snapshot = (await self.store.read([video_id]))[video_id]
        views = snapshot.views.beyond(0)
        return VideoView(Row(video_id), Engagement(views, 0, 0, snapshot.live_viewers))  # type: ignore[arg-type]


@pytest.fixture
def wired() -> tuple[LiveHub, MemoryEngagementStore, CountingVideos]:
    signals = LocalLiveSignals()
    store = MemoryEngagementStore(on_change=signals.notify)
    videos = CountingVideos(store)
    hub = LiveHub(
        videos,  # type: ignore[arg-type]
        store,
        signals,
        capacity=3,
        presence_ttl_seconds=30,
        interval_seconds=0.1,
        refresh_seconds=5.0,
    )
    signals.on_signal(hub.on_signal)
    signals.on_reset(hub.on_signals_lost)
    return hub, store, videos


async def _latest(socket: LiveSocket, check: Any, timeout: float = 5.0) -> dict[str, Any]:
    import orjson

    async with asyncio.timeout(timeout):
        while True:
            item = await socket.next()
            assert isinstance(item, str), item
            message = orjson.loads(item)
            if check(message):
                return message


def test_a_socket_holds_only_the_latest_message() -> None:
    async def run() -> None:
        socket = LiveSocket(1, None, "a:x")
        for n in range(1000):
            socket.offer(f"message {n}")
        assert await socket.next() == "message 999"
        assert await socket.next(timeout=0.05) is None  # nothing queued behind it
        socket.offer("late")
        socket.end(NOT_FOUND)
        assert await socket.next() is NOT_FOUND  # a close wins over an unsent message
        socket.offer("after the end")
        assert await socket.next() is NOT_FOUND

    asyncio.run(run())


async def test_a_burst_of_changes_is_read_a_few_times_not_once_each(
    wired: tuple[LiveHub, MemoryEngagementStore, CountingVideos],
) -> None:
    hub, store, videos = wired
    socket = await hub.join(7, None, "a:viewer-one")
    await _latest(socket, lambda m: m["live_viewers"] == 1)
    reads_before = videos.reads
    for _ in range(500):
        await store.add_view(7)
    message = await _latest(socket, lambda m: m["view_count"] == 500)
    assert message["live_viewers"] == 1
    assert videos.reads - reads_before <= 3  # 500 signals, one read per interval
    await hub.leave(socket)


async def test_sockets_of_one_viewer_are_one_viewer_until_the_last_leaves(
    wired: tuple[LiveHub, MemoryEngagementStore, CountingVideos],
) -> None:
    hub, store, _ = wired
    first = await hub.join(8, None, "a:same")
    second = await hub.join(8, None, "a:same")
    other = await hub.join(8, None, "a:other")
    assert (await store.read([8]))[8].live_viewers == 2
    assert not hub.has_room()  # capacity 3
    await hub.leave(first)
    assert (await store.read([8]))[8].live_viewers == 2
    await hub.leave(second)
    assert (await store.read([8]))[8].live_viewers == 1
    await _latest(other, lambda m: m["live_viewers"] == 1)
    await hub.leave(other)
    assert hub.open_sockets == 0 and hub.has_room()


async def test_a_deleted_video_ends_its_sockets_and_refuses_new_ones(
    wired: tuple[LiveHub, MemoryEngagementStore, CountingVideos],
) -> None:
    hub, store, videos = wired
    socket = await hub.join(9, None, "a:viewer-one")
    videos.deleted.add(9)
    await store.forget(9)  # signals the feed
    async with asyncio.timeout(5):
        while (item := await socket.next()) is not NOT_FOUND:
            assert isinstance(item, str)
    await hub.leave(socket)
    with pytest.raises(NotFound):
        await hub.join(9, None, "a:viewer-two")
    assert hub.open_sockets == 0


async def test_shutdown_ends_every_socket_and_admits_no_more(
    wired: tuple[LiveHub, MemoryEngagementStore, CountingVideos],
) -> None:
    hub, _, _ = wired
    sockets = [await hub.join(10, None, f"a:viewer-{n}") for n in range(2)]
    hub.close_all()
    assert not hub.has_room()
    for socket in sockets:
        while isinstance(item := await socket.next(), str):
            pass
        assert item is not None and item.code == 1001


class StuckWebSocket:
    """A client that stopped reading: every send waits for ever."""

    def __init__(self) -> None:
        self.failed_with: tuple[int, str] | None = None

    async def send(self, message: str) -> None:
        await asyncio.Event().wait()

    async def close(self, code: int, reason: str) -> None:  # pragma: no cover - not reached
        raise AssertionError("a stuck client gets no close handshake")

    def fail_connection(self, code: int, reason: str) -> None:
        self.failed_with = (code, reason)


async def test_a_client_that_stops_reading_is_dropped_after_the_send_timeout() -> None:
    socket = LiveSocket(11, None, "a:slow")
    socket.offer('{"type": "engagement"}')
    ws = StuckWebSocket()
    request: Any = SimpleNamespace(
        app=SimpleNamespace(
            ctx=SimpleNamespace(
                settings=SimpleNamespace(ws_send_timeout_seconds=0.2, ws_auth_recheck_seconds=30),
                services=SimpleNamespace(auth=None),
            )
        ),
        ctx=SimpleNamespace(),
    )
    async with asyncio.timeout(5):
        await _pump(request, ws, socket)
    assert ws.failed_with == (TOO_SLOW.code, TOO_SLOW.reason)
    assert socket.closing is TOO_SLOW


def per_client_hub(limit: int) -> tuple[LiveHub, MemoryEngagementStore]:
    signals = LocalLiveSignals()
    store = MemoryEngagementStore(on_change=signals.notify)
    hub = LiveHub(
        CountingVideos(store),  # type: ignore[arg-type]
        store,
        signals,
        capacity=100,
        presence_ttl_seconds=30,
        interval_seconds=0.1,
        per_client=limit,
    )
    return hub, store


async def test_upgrades_arriving_at_once_from_one_client_get_at_most_its_cap() -> None:
    hub, _ = per_client_hub(3)
    admitted = [hub.admit("198.51.100.7") for _ in range(51)]  # all admitted before any joins
    assert admitted.count(None) == 3 and set(admitted[3:]) == {Refusal.CLIENT}
    assert hub.admit("198.51.100.8") is None  # another client has its own
    sockets = [await hub.join(1, None, f"a:v{n}", "198.51.100.7") for n in range(3)]
    assert hub.admit("198.51.100.7") is Refusal.CLIENT  # open sockets count too
    await hub.leave(sockets[0])
    assert hub.admit("198.51.100.7") is None  # a closed one frees its place
    hub.close_all()


async def test_an_admitted_upgrade_that_never_opens_frees_its_place(monkeypatch: pytest.MonkeyPatch) -> None:
    from halo.services import live

    hub, _ = per_client_hub(1)
    assert hub.admit("198.51.100.9") is None
    assert hub.admit("198.51.100.9") is Refusal.CLIENT
    monkeypatch.setattr(live, "ADMISSION_SECONDS", 0.0)
    assert hub.admit("198.51.100.9") is None


async def test_admitted_upgrades_count_against_the_instance_cap_until_they_open_or_expire(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from halo.services import live

    signals = LocalLiveSignals()
    store = MemoryEngagementStore(on_change=signals.notify)
    hub = LiveHub(CountingVideos(store), store, signals, capacity=2, presence_ttl_seconds=30, per_client=5)  # type: ignore[arg-type]
    assert [hub.admit(f"198.51.100.{n}") for n in range(3)] == [None, None, Refusal.FULL]
    socket = await hub.join(1, None, "a:one", "198.51.100.0")  # takes its admission's place
    assert hub.admit("198.51.100.3") is Refusal.FULL
    monkeypatch.setattr(live, "ADMISSION_SECONDS", 0.0)
    hub.expire_admissions()  # 198.51.100.1 never opened its socket
    assert hub.admit("198.51.100.3") is None
    await hub.leave(socket)
    hub.close_all()
    assert hub.admit("198.51.100.4") is Refusal.FULL  # shutting down


async def test_a_revoked_notice_closes_the_tokens_sockets_only() -> None:
    from halo.services.auth import Principal
    from halo.services.live import UNAUTHORIZED

    hub, _ = per_client_hub(10)
    revoked = Principal(1, "jti-revoked", 2**40, is_adult=False, adult_mode=False)
    kept = Principal(2, "jti-kept", 2**40, is_adult=False, adult_mode=False)
    closing = await hub.join(5, revoked, "u:1", "198.51.100.1")
    staying = await hub.join(5, kept, "u:2", "198.51.100.1")
    hub.on_notice({"kind": "revoked", "jti": "jti-revoked"})
    assert closing.closing is UNAUTHORIZED
    assert staying.closing is None
    hub.close_all()
