"""Live engagement for open WebSockets: one feed per watched video, per worker.

For each video somebody watches on this worker there is one *feed*: the
sockets watching it, the viewers they count as, and the last message sent.
A change anywhere (a like on another replica, a view, a viewer joining)
arrives as a signal on the video's channel (`halo.redis.live_signals`); the
feed then reads the video once, at most once per `interval` (a burst of a
thousand views is one read and one message), and offers the message to its
sockets when it differs from the last. Presence that merely expires makes no
signal, so a feed also reads every `refresh` seconds.

An open socket counts as a live viewer, in the same presence set as the
REST heartbeats: the feed renews its viewers every third of the presence TTL
and removes a viewer when its last socket on this worker closes.

A socket holds at most one unsent message, the latest: a client slower than
the updates skips the ones in between instead of queueing them. The HTTP
layer drops a client whose send stalls past its timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any

import orjson

from halo.engagement.store import EngagementStore, VideoGone
from halo.redis.link import StoreUnavailable
from halo.redis.live_signals import LiveSignals
from halo.services.auth import Principal
from halo.services.engagement import VideoView
from halo.services.errors import NotFound
from halo.services.live_places import LocalPlaces, Places, Refusal
from halo.services.videos import VideoService
from halo.services.visibility import can_see

log = logging.getLogger("halo.live")


@dataclass(frozen=True, slots=True)
class CloseReason:
    code: int
    reason: str


GOING_AWAY = CloseReason(1001, "server shutting down")
NOT_FOUND = CloseReason(4404, "video not found")  # deleted, or no longer visible to this viewer
UNAUTHORIZED = CloseReason(4401, "token expired or revoked")
TOO_SLOW = CloseReason(4408, "client too slow")
CLIENT_LEFT = CloseReason(1000, "client closed")


# An admitted upgrade holds its client's place this long at most if its socket never opens.
ADMISSION_SECONDS = 10.0


class Full(Exception):
    """This worker has as many sockets as it may hold."""


class LiveSocket:
    """One client's subscription: the latest message not yet sent, or why it must close."""

    __slots__ = ("_close", "_message", "_ready", "client", "sent", "video_id", "viewer", "viewer_key")

    def __init__(self, video_id: int, viewer: Principal | None, viewer_key: str, client: str = "") -> None:
        self.video_id = video_id
        self.viewer = viewer
        self.viewer_key = viewer_key
        self.client = client  # the client key its per-client cap counts it under
        self.sent = 0  # messages sent, counted by the transport
        self._message: str | None = None
        self._close: CloseReason | None = None
        self._ready = asyncio.Event()

    def offer(self, message: str) -> None:
        """Replace whatever was not sent yet: a slow client gets the latest state, not a queue."""
        if self._close is None:
            self._message = message
            self._ready.set()

    def end(self, reason: CloseReason) -> None:
        if self._close is None:
            self._close = reason
            self._message = None
            self._ready.set()

    @property
    def closing(self) -> CloseReason | None:
        return self._close

    async def next(self, timeout: float | None = None) -> str | CloseReason | None:
        """The next message to send, or the reason to close; None when `timeout` passes first."""
        if self._close is not None:
            return self._close
        if not self._ready.is_set():
            if timeout is None:
                await self._ready.wait()
            else:
                try:
                    async with asyncio.timeout(timeout):
                        await self._ready.wait()
                except TimeoutError:
                    return None
        self._ready.clear()
        if self._close is not None:
            return self._close
        message, self._message = self._message, None
        return message


class _Feed:
    __slots__ = ("closed", "message", "sockets", "task", "video_id", "viewers", "wake")

    def __init__(self, video_id: int) -> None:
        self.video_id = video_id
        self.sockets: set[LiveSocket] = set()
        self.viewers: Counter[str] = Counter()
        self.message: str | None = None
        self.wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.closed = False  # its last socket left: the task ends at its next stop


def engagement_message(view: VideoView) -> str:
    """What a socket receives: the fields of `GET /videos/{id}/engagement`, with a type."""
    engagement = view.engagement
    return orjson.dumps(
        {
            "type": "engagement",
            "video_id": view.video.id,
            "view_count": engagement.view_count if engagement else None,
            "like_count": engagement.like_count if engagement else None,
            "comment_count": engagement.comment_count if engagement else None,
            "live_viewers": engagement.live_viewers if engagement else None,
        }
    ).decode()


class LiveHub:
    def __init__(
        self,
        videos: VideoService,
        store: EngagementStore,
        signals: LiveSignals,
        *,
        capacity: int,
        presence_ttl_seconds: int,
        interval_seconds: float = 0.25,
        refresh_seconds: float = 5.0,
        per_client: int | None = None,
    ) -> None:
        self._videos = videos
        self._store = store
        self._signals = signals
        self._presence_ttl = presence_ttl_seconds
        self._interval = interval_seconds
        self._refresh = refresh_seconds
        self._feeds: dict[int, _Feed] = {}
        self._open = 0
        self._closing = False
        self.places: Places = LocalPlaces(capacity, per_client)
        self._admitted: dict[str, deque[float]] = {}  # per client: upgrades admitted, socket not open yet
        self._admissions: deque[tuple[float, str]] = deque()  # every admission, oldest first

    # --- sockets ---------------------------------------------------------------------

    @property
    def open_sockets(self) -> int:
        return self._open

    def share_places(self, places: Places) -> None:
        """Count places for the whole instance (`SharedPlaces`) instead of this worker alone."""
        self.places = places

    def has_room(self) -> bool:
        return not self._closing and self.places.has_room()

    def admit(self, client: str) -> Refusal | None:
        """Hold a place for one more socket of this client, if the instance and the client are
        below their caps (sockets open or admitted, on every worker); checked and taken in one step,
        so upgrades arriving at once cannot all pass. `join` takes the place over; one never joined
        is given back after ADMISSION_SECONDS."""
        if self._closing:
            return Refusal.FULL
        now = time.monotonic()
        self.expire_admissions(now)
        refusal = self.places.take(client)
        if refusal is None:
            self._admitted.setdefault(client, deque()).append(now)
            self._admissions.append((now, client))
        return refusal

    def expire_admissions(self, now: float | None = None) -> None:
        """Give back the places of admitted upgrades whose socket never opened."""
        expired = (time.monotonic() if now is None else now) - ADMISSION_SECONDS
        admissions = self._admissions
        while admissions and admissions[0][0] <= expired:
            _, client = admissions.popleft()
            admitted = self._admitted.get(client)
            if admitted and admitted[0] <= expired:  # not joined since (joins take the oldest)
                admitted.popleft()
                self.places.give_back(client)
            if not admitted:
                self._admitted.pop(client, None)

    def _joins_admission(self, client: str) -> bool:
        admitted = self._admitted.get(client)
        if not admitted:
            return False
        admitted.popleft()
        if not admitted:
            del self._admitted[client]
        return True

    async def join(
        self, video_id: int, viewer: Principal | None, viewer_key: str, client: str = ""
    ) -> LiveSocket:
        """Open a socket on the video's feed and count it as a live viewer (NotFound when deleted)."""
        if self._joins_admission(client):  # its place was taken at admission
            if self._closing:
                self.places.give_back(client)
                raise Full
        elif self.has_room():
            self.places.add(client)
        else:
            raise Full
        socket = LiveSocket(video_id, viewer, viewer_key, client)
        feed = self._feeds.get(video_id)
        if feed is None:
            feed = self._feeds[video_id] = _Feed(video_id)
            self._signals.watch(video_id)
            feed.task = asyncio.create_task(self._follow(feed), name=f"live-feed-{video_id}")
        feed.sockets.add(socket)
        self._opened(1)
        if feed.message is not None:
            socket.offer(feed.message)  # the current state at once; our own arrival follows
        feed.viewers[viewer_key] += 1
        if feed.viewers[viewer_key] == 1:
            try:
                await self._store.heartbeat(video_id, viewer_key, self._presence_ttl)
            except VideoGone:
                await self.leave(socket)
                raise NotFound("no such video") from None
            except StoreUnavailable:
                pass  # served degraded; the renewal adds the viewer when Redis is back
        feed.wake.set()
        return socket

    async def leave(self, socket: LiveSocket) -> None:
        """The socket is closed: forget it, and its viewer when it was the viewer's last socket here."""
        feed = self._feeds.get(socket.video_id)
        if feed is None or socket not in feed.sockets:
            return
        feed.sockets.discard(socket)
        self._opened(-1)
        self.places.give_back(socket.client)
        feed.viewers[socket.viewer_key] -= 1
        if feed.viewers[socket.viewer_key] <= 0:
            del feed.viewers[socket.viewer_key]
            with contextlib.suppress(StoreUnavailable, VideoGone):
                await self._store.leave(socket.video_id, socket.viewer_key)
        if not feed.sockets and self._feeds.get(socket.video_id) is feed:
            del self._feeds[socket.video_id]
            self._signals.unwatch(socket.video_id)
            # Not task.cancel(): a cancellation landing inside a database call can leave its
            # connection checked out of the pool for good. The task sees the flag and returns.
            feed.closed = True
            feed.wake.set()

    def close_all(self, reason: CloseReason = GOING_AWAY) -> None:
        """At shutdown: refuse new sockets and close the open ones (clients reconnect elsewhere)."""
        self._closing = True
        for feed in list(self._feeds.values()):
            for socket in list(feed.sockets):
                socket.end(reason)

    def _opened(self, delta: int) -> None:
        self._open += delta

    # --- signals -----------------------------------------------------------------------

    def on_signal(self, video_id: int) -> None:
        feed = self._feeds.get(video_id)
        if feed is not None:
            feed.wake.set()

    def on_signals_lost(self) -> None:
        for feed in self._feeds.values():
            feed.wake.set()

    def on_notice(self, message: dict[str, Any]) -> None:
        kind = message.get("kind")
        if kind == "changed":
            for video_id in message.get("ids", ()):
                self.on_signal(video_id)
        elif kind == "revoked":  # a logout, on any replica: its token's sockets close now
            jti = message.get("jti")
            for feed in self._feeds.values():
                for socket in list(feed.sockets):
                    if socket.viewer is not None and socket.viewer.jti == jti:
                        socket.end(UNAUTHORIZED)

    # --- background work ---------------------------------------------------------------

    async def _follow(self, feed: _Feed) -> None:
        """Read the video when signalled, at most once per interval, and at least once per refresh."""
        while not feed.closed:
            feed.wake.clear()
            try:
                await self._publish(feed)
            except Exception:  # e.g. PostgreSQL down for a cache miss: keep the sockets, try later
                log.warning("live update of video %s failed", feed.video_id, exc_info=True)
            await asyncio.sleep(self._interval)
            if not feed.wake.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._refresh):
                        await feed.wake.wait()

    async def _publish(self, feed: _Feed) -> None:
        view = await self._videos.current(feed.video_id)
        if view is None:
            for socket in list(feed.sockets):
                socket.end(NOT_FOUND)
            return
        message = engagement_message(view)
        changed = message != feed.message
        feed.message = message
        for socket in list(feed.sockets):
            if not can_see(view.video, socket.viewer):
                socket.end(NOT_FOUND)
            elif changed:
                socket.offer(message)

    async def keep_present(self) -> None:
        """Renew every socket's viewer before its presence expires (a background task per worker)."""
        period = max(0.5, self._presence_ttl / 3)
        while True:
            await asyncio.sleep(period)
            self.expire_admissions()
            for feed in list(self._feeds.values()):
                for viewer_key in list(feed.viewers):
                    try:
                        await self._store.heartbeat(feed.video_id, viewer_key, self._presence_ttl)
                    except VideoGone:
                        for socket in list(feed.sockets):
                            socket.end(NOT_FOUND)
                        break
                    except StoreUnavailable:
                        break  # Redis is down: try again next period

    def update_viewer(self, socket: LiveSocket, viewer: Principal) -> None:
        """The socket's token was checked again: its user's visibility may have changed."""
        socket.viewer = viewer
        feed = self._feeds.get(socket.video_id)
        if feed is not None:
            feed.wake.set()
