"""This worker's cache of video metadata: the detail read without a database round trip.

Bounded (least recently used go first) and short-lived (a TTL as a safety
net); kept right by change notices from every worker and replica: a PATCH
or DELETE drops the entry, a view flush updates its durable view count in
place. A displayed view count never goes backwards meanwhile: views still in
Redis are counted by batch number against the row's `view_flush_seq`,
whatever the age of the cached row.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable

from halo.repositories.videos import VideoRow


class VideoCache:
    def __init__(self, *, size: int, ttl_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._entries: OrderedDict[int, tuple[VideoRow, float]] = OrderedDict()
        self._size = size
        self._ttl = ttl_seconds
        self._clock = clock
        self._generation = 0  # bumped by every drop: a load that raced one must not be stored
        self._loading: dict[int, asyncio.Future[VideoRow | None]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def enabled(self) -> bool:
        return self._size > 0

    @property
    def ttl_seconds(self) -> float:
        return self._ttl

    def get(self, video_id: int, max_age: float | None = None) -> VideoRow | None:
        """The cached row; None when there is none, or when it was cached `max_age` seconds ago or more."""
        entry = self._entries.get(video_id)
        if entry is None:
            return None
        row, expires = entry
        now = self._clock()
        if expires <= now:
            del self._entries[video_id]
            return None
        if max_age is not None and now - (expires - self._ttl) >= max_age:
            return None  # left in place: the load that follows replaces it
        self._entries.move_to_end(video_id)
        return row

    def age(self, video_id: int) -> float | None:
        """Seconds since the row was cached (None when it is not)."""
        entry = self._entries.get(video_id)
        return None if entry is None else self._clock() - (entry[1] - self._ttl)

    async def load(
        self,
        video_id: int,
        fetch: Callable[[int], Awaitable[VideoRow | None]],
        max_age: float | None = None,
        *,
        join: bool = True,
    ) -> VideoRow | None:
        """The cached row (no older than `max_age`), or one fetch shared by every concurrent
        caller, then cached. `join=False`: a fetch of this caller's own when one is already under
        way (it may have started before this caller's write, or be read where that write is not yet)."""
        row = self.get(video_id, max_age)
        if row is not None or not self.enabled:
            return row if row is not None else await fetch(video_id)
        pending = self._loading.get(video_id)
        if pending is not None:
            if not join:
                return await fetch(video_id)
            return await asyncio.shield(pending)
        future: asyncio.Future[VideoRow | None] = asyncio.get_running_loop().create_future()
        self._loading[video_id] = future
        generation = self._generation
        try:
            row = await fetch(video_id)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: nobody may be waiting
            raise
        finally:
            self._loading.pop(video_id, None)
        if row is not None and generation == self._generation:
            self.put(row)
        future.set_result(row)
        return row

    def put(self, row: VideoRow) -> None:
        if not self.enabled:
            return
        self._entries[row.id] = (row, self._clock() + self._ttl)
        self._entries.move_to_end(row.id)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)

    @property
    def generation(self) -> int:
        """Raised by every drop: take it before a read whose rows `put_missing` may store."""
        return self._generation

    def put_missing(self, rows: Iterable[VideoRow], generation: int) -> None:
        """Rows read elsewhere (a list page), stored where this cache holds none, unless a drop
        came since `generation` was taken (a row read across a change may be the old one)."""
        if generation != self._generation:
            return
        for row in rows:
            if self.get(row.id) is None:
                self.put(row)

    def drop(self, video_ids: Iterable[int]) -> None:
        self._generation += 1
        for video_id in video_ids:
            self._entries.pop(video_id, None)

    def clear(self) -> None:
        self._generation += 1
        self._entries.clear()

    def flushed(self, rows: Iterable[tuple[int, int, int]]) -> None:
        """Views reached PostgreSQL: (id, view_count, view_flush_seq) of each changed row."""
        for video_id, view_count, flush_seq in rows:
            entry = self._entries.get(video_id)
            if entry is not None and entry[0].view_flush_seq < flush_seq:
                row, expires = entry
                self._entries[video_id] = (
                    dataclasses.replace(row, view_count=view_count, view_flush_seq=flush_seq),
                    expires,
                )
