"""Change notices between workers and replicas, over Redis pub/sub.

Each worker keeps a small cache of video metadata; when a video changes
(PATCH, DELETE, a view flush) the worker that changed it publishes a notice
and every worker, here and on other replicas, updates or drops its copy,
within milliseconds. Pub/sub delivers at most once: a worker that was not
listening (Redis down, reconnecting) may have missed notices, so on every
(re)subscription it is told to drop everything (`on_reset`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, Protocol

import orjson

from halo.redis.link import RedisLink, StoreUnavailable

log = logging.getLogger("halo.events")

CHANNEL = "halo:events"
Handler = Callable[[dict[str, Any]], None]


class EventBus(Protocol):
    def on_message(self, handler: Handler) -> None: ...

    def on_reset(self, handler: Callable[[], None]) -> None: ...

    async def publish(self, message: dict[str, Any]) -> None:
        """Best effort: a notice that cannot be sent is dropped (caches also expire on their own)."""

    async def listen(self) -> None:
        """Deliver notices to the handlers until cancelled (a background task per worker)."""


class _Handlers:
    def __init__(self) -> None:
        self._message_handlers: list[Handler] = []
        self._reset_handlers: list[Callable[[], None]] = []

    def on_message(self, handler: Handler) -> None:
        self._message_handlers.append(handler)

    def on_reset(self, handler: Callable[[], None]) -> None:
        self._reset_handlers.append(handler)

    def _deliver(self, message: dict[str, Any]) -> None:
        for handler in self._message_handlers:
            try:
                handler(message)
            except Exception:  # one bad notice must not stop the listener
                log.exception("event handler failed on %r", message)

    def _reset(self) -> None:
        for handler in self._reset_handlers:
            handler()


class RedisEventBus(_Handlers):
    def __init__(self, link: RedisLink, *, retry_seconds: float = 1.0) -> None:
        super().__init__()
        self._link = link
        self._retry = retry_seconds

    async def publish(self, message: dict[str, Any]) -> None:
        payload = orjson.dumps(message)
        with contextlib.suppress(StoreUnavailable):
            await self._link.run(lambda: self._link.client.publish(CHANNEL, payload), write=False)

    async def listen(self) -> None:
        while True:
            pubsub = self._link.pubsub()
            try:
                await pubsub.subscribe(CHANNEL)
                self._reset()  # whatever happened while we were not listening is unknown
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5.0)
                    if message is not None and message.get("type") == "message":
                        self._deliver(orjson.loads(message["data"]))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("event listener lost Redis (%s); retrying", exc or type(exc).__name__)
                self._reset()
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(self._retry)


class LocalEventBus(_Handlers):
    """The embedded default: one process, notices are delivered in place."""

    async def publish(self, message: dict[str, Any]) -> None:
        self._deliver(message)

    async def listen(self) -> None:
        await asyncio.Event().wait()  # nothing to listen to
