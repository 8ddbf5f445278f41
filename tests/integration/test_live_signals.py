"""Every engagement write signals the video's live channel, on each backend (Redis, Redis Cluster,
in-process); a worker hears only the videos it watches, and a renewal of presence is silent."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from halo.engagement.memory_store import MemoryEngagementStore
from halo.engagement.redis_store import RedisEngagementStore
from halo.engagement.store import Counters, EngagementStore
from halo.redis.live_signals import LiveSignals, LocalLiveSignals, RedisLiveSignals
from tests.integration.conftest import new_id, redis_link


@dataclass
class Wiring:
    store: EngagementStore
    signals: LiveSignals
    heard: asyncio.Queue[int]
    resets: list[int]

    async def signal(self, timeout: float = 5.0) -> int:
        async with asyncio.timeout(timeout):
            return await self.heard.get()

    async def silence(self, seconds: float = 0.3) -> list[int]:
        """What arrives within `seconds` (expected: nothing)."""
        await asyncio.sleep(seconds)
        return [self.heard.get_nowait() for _ in range(self.heard.qsize())]


@pytest.fixture(params=["memory", "redis", "cluster"])
async def wiring(request: pytest.FixtureRequest) -> AsyncIterator[Wiring]:
    heard: asyncio.Queue[int] = asyncio.Queue()
    resets: list[int] = []
    if request.param == "memory":
        local = LocalLiveSignals()
        local.on_signal(heard.put_nowait)
        yield Wiring(MemoryEngagementStore(on_change=local.notify), local, heard, resets)
        return
    link = await redis_link(request)
    signals = RedisLiveSignals(link, retry_seconds=0.1)
    signals.on_signal(heard.put_nowait)
    signals.on_reset(lambda: resets.append(1))
    listener = asyncio.create_task(signals.listen())
    try:
        async with asyncio.timeout(5):
            while not resets:  # subscribed
                await asyncio.sleep(0.01)
        yield Wiring(RedisEngagementStore(link), signals, heard, resets)
    finally:
        listener.cancel()
        with contextlib.suppress(BaseException):
            await listener
        await link.client.aclose()


async def _watched(wiring: Wiring, video_id: int) -> None:
    wiring.signals.watch(video_id)
    await asyncio.sleep(0.2)  # the subscription reaches Redis


async def test_each_kind_of_write_signals_a_watched_video(wiring: Wiring) -> None:
    video = new_id()
    await _watched(wiring, video)

    await wiring.store.add_view(video)
    assert await wiring.signal() == video
    await wiring.store.cache_counters([(video, Counters(likes=1, comments=0, version=1))])
    assert await wiring.signal() == video
    await wiring.store.heartbeat(video, "a:viewer-one", 30)
    assert await wiring.signal() == video
    await wiring.store.leave(video, "a:viewer-one")
    assert await wiring.signal() == video
    await wiring.store.forget(video)
    assert await wiring.signal() == video


async def test_writes_that_change_nothing_visible_are_silent(wiring: Wiring) -> None:
    video = new_id()
    await _watched(wiring, video)
    await wiring.store.heartbeat(video, "a:viewer-one", 30)
    assert await wiring.signal() == video

    await wiring.store.heartbeat(video, "a:viewer-one", 30)  # a renewal
    await wiring.store.leave(video, "a:somebody-else")  # nobody left
    await wiring.store.cache_counters([(video, Counters(likes=0, comments=0, version=0))])
    assert await wiring.signal() == video  # the first fill is a change...
    await wiring.store.cache_counters([(video, Counters(likes=0, comments=0, version=0))])
    assert await wiring.silence() == []  # ...the same version again is not


async def test_only_watched_videos_are_heard(wiring: Wiring) -> None:
    watched, other = new_id(), new_id()
    await _watched(wiring, watched)
    await wiring.store.add_view(other)
    await wiring.store.add_view(watched)
    assert await wiring.signal() == watched
    assert await wiring.silence() == []

    wiring.signals.unwatch(watched)
    await asyncio.sleep(0.2)
    await wiring.store.add_view(watched)
    assert await wiring.silence() == []


async def test_a_burst_of_watch_and_unwatch_settles_on_the_last_word(wiring: Wiring) -> None:
    videos = [new_id() for _ in range(50)]
    for video in videos:
        wiring.signals.watch(video)
    for video in videos[::2]:
        wiring.signals.unwatch(video)
    await asyncio.sleep(0.3)
    for video in videos:
        await wiring.store.add_view(video)
    heard = set()
    async with asyncio.timeout(5):
        while len(heard) < 25:
            heard.add(await wiring.heard.get())
    assert heard == set(videos[1::2])
    assert await wiring.silence() == []
