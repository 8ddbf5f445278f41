"""Signals that a video's engagement changed, for the workers that push it to open WebSockets.

Every write to a video's engagement in Redis (a view, a like or comment
cached, a viewer joining or leaving, a deletion) publishes an empty message
on the video's channel, from inside the script that made the write: no extra
round trip, and a write by any worker of any replica is heard by all. A
worker subscribes only to the channels of videos somebody watches on it, so
a channel nobody watches costs Redis almost nothing and the workers nothing.

The signal carries no numbers: the listener reads the engagement itself,
coalescing bursts (see `halo.services.live`). Pub/sub delivers at most once;
after a (re)subscription the listener is told to read everything again
(`on_reset`). The embedded default has no Redis: its in-process store calls
`LocalLiveSignals.notify` after each write.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, Protocol

from halo.redis.link import RedisLink

log = logging.getLogger("halo.live")

CHANNEL_PREFIX = "halo:live:"


def live_channel(video_id: int) -> str:
    return f"{CHANNEL_PREFIX}{video_id}"


class LiveSignals(Protocol):
    def on_signal(self, handler: Callable[[int], None]) -> None:
        """`handler(video_id)` runs when a watched video's engagement may have changed."""

    def on_reset(self, handler: Callable[[], None]) -> None:
        """`handler()` runs when signals may have been missed (after a reconnection)."""

    def watch(self, video_id: int) -> None: ...

    def unwatch(self, video_id: int) -> None: ...

    async def listen(self) -> None:
        """Deliver signals until cancelled (a background task per worker)."""


class _Handlers:
    def __init__(self) -> None:
        self._signal_handlers: list[Callable[[int], None]] = []
        self._reset_handlers: list[Callable[[], None]] = []
        self._watched: set[int] = set()

    def on_signal(self, handler: Callable[[int], None]) -> None:
        self._signal_handlers.append(handler)

    def on_reset(self, handler: Callable[[], None]) -> None:
        self._reset_handlers.append(handler)

    def _deliver(self, video_id: int) -> None:
        for handler in self._signal_handlers:
            handler(video_id)

    def _reset(self) -> None:
        for handler in self._reset_handlers:
            handler()


class RedisLiveSignals(_Handlers):
    """One pub/sub connection per worker, subscribed to the channels of the videos watched here."""

    def __init__(self, link: RedisLink, *, retry_seconds: float = 1.0) -> None:
        super().__init__()
        self._link = link
        self._retry = retry_seconds
        self._pubsub: Any = None
        self._changes: asyncio.Queue[tuple[bool, int]] = asyncio.Queue()

    def watch(self, video_id: int) -> None:
        if video_id not in self._watched:
            self._watched.add(video_id)
            self._changes.put_nowait((True, video_id))

    def unwatch(self, video_id: int) -> None:
        if video_id in self._watched:
            self._watched.discard(video_id)
            self._changes.put_nowait((False, video_id))

    async def listen(self) -> None:
        while True:
            pubsub = self._link.pubsub()
            changes = asyncio.create_task(self._apply_changes(pubsub))
            try:
                # The connection opens with its first command; subscribe to a channel of our own
                # so that it exists (and reads) even while nothing is watched.
                await pubsub.subscribe(f"{CHANNEL_PREFIX}worker")
                if self._watched:
                    await pubsub.subscribe(*(live_channel(video_id) for video_id in self._watched))
                self._reset()
                await self._read(pubsub, changes)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("live signals lost Redis (%s); retrying", exc or type(exc).__name__)
            finally:
                changes.cancel()
                # Not `await changes`: a cancellation arriving in the middle of a redis-py command
                # can be swallowed there, and the task would then wait on the queue for ever.
                await asyncio.wait({changes}, timeout=1.0)
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            self._reset()  # until we listen again, nothing is heard: readers fall back to their refresh
            await asyncio.sleep(self._retry)

    async def _read(self, pubsub: Any, changes: asyncio.Task[None]) -> None:
        while not changes.done():
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is None or message.get("type") != "message":
                continue
            channel = message["channel"]
            if isinstance(channel, bytes):
                channel = channel.decode()
            try:
                video_id = int(channel.removeprefix(CHANNEL_PREFIX))
            except ValueError:
                continue
            if video_id in self._watched:
                self._deliver(video_id)
        changes.result()  # the subscription side failed: raise its error

    async def _apply_changes(self, pubsub: Any) -> None:
        """Subscribe and unsubscribe as videos gain their first or lose their last watcher."""
        # Whatever was queued before this connection is in `_watched` already.
        while not self._changes.empty():
            self._changes.get_nowait()
        while True:
            subscribe, video_id = await self._changes.get()
            batch = {video_id: subscribe}
            while not self._changes.empty():  # a burst of sockets: one command each way
                subscribe, video_id = self._changes.get_nowait()
                batch[video_id] = subscribe
            wanted = [live_channel(v) for v, on in batch.items() if on and v in self._watched]
            unwanted = [live_channel(v) for v, on in batch.items() if not on and v not in self._watched]
            if wanted:
                await pubsub.subscribe(*wanted)
            if unwanted:
                await pubsub.unsubscribe(*unwanted)


class LocalLiveSignals(_Handlers):
    """The embedded default: the in-process store notifies directly."""

    def watch(self, video_id: int) -> None:
        self._watched.add(video_id)

    def unwatch(self, video_id: int) -> None:
        self._watched.discard(video_id)

    def notify(self, video_id: int) -> None:
        if video_id in self._watched:
            self._deliver(video_id)

    async def listen(self) -> None:
        await asyncio.Event().wait()  # nothing to listen to
