"""Reads asked for in the same turn of the event loop go to the store as one call.

Under load a worker has dozens of requests in flight that want a few bytes each
from the same store; sent one by one, each pays a pool checkout, a write, a
read and a parse (bench/RESULTS.md has the figures). Coalesced, the
requests whose handlers reach the store in the same turn share one
call: the batch is sent at the start of the next turn (`call_soon`), so a
lone request waits for nothing but that. What each caller gets is what a
call of its own, sent at that moment, would have returned: the batch leaves
after every caller in it asked, so a caller's own earlier writes are in it.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class _Batch(Generic[K, V]):
    __slots__ = ("context", "keys", "waiters")

    def __init__(self, context: contextvars.Context) -> None:
        self.keys: dict[K, None] = {}  # an ordered set: each key asked once
        self.waiters: list[asyncio.Future[Mapping[K, V]]] = []
        self.context = context  # the first caller's: its trace holds the store call's span


class ReadCoalescer(Generic[K, V]):
    def __init__(self, fetch: Callable[[list[K]], Awaitable[Mapping[K, V]]], *, max_keys: int = 100) -> None:
        """`fetch(keys)` answers for every key; a batch holds at most `max_keys` keys
        (a read with more goes alone)."""
        self._fetch = fetch
        self._max_keys = max_keys
        self._open: _Batch[K, V] | None = None
        self._sending: set[asyncio.Task[None]] = set()  # strong references until each is done

    async def read(self, keys: Sequence[K]) -> Mapping[K, V]:
        loop = asyncio.get_running_loop()
        batch = self._open
        if batch is None or len(batch.keys) + len(keys) > self._max_keys:
            batch = self._open = _Batch(contextvars.copy_context())
            loop.call_soon(self._send, batch)
        batch.keys.update(dict.fromkeys(keys))
        waiter: asyncio.Future[Mapping[K, V]] = loop.create_future()
        batch.waiters.append(waiter)
        return await waiter

    def _send(self, batch: _Batch[K, V]) -> None:
        if self._open is batch:
            self._open = None
        if all(waiter.done() for waiter in batch.waiters):  # every caller was cancelled meanwhile
            return
        task = asyncio.get_running_loop().create_task(self._answer(batch), context=batch.context)
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _answer(self, batch: _Batch[K, V]) -> None:
        try:
            results = await self._fetch(list(batch.keys))
        except asyncio.CancelledError:
            for waiter in batch.waiters:
                waiter.cancel()
            raise
        except Exception as exc:
            for waiter in batch.waiters:
                if not waiter.done():
                    waiter.set_exception(exc)
            return
        for waiter in batch.waiters:
            if not waiter.done():
                waiter.set_result(results)
