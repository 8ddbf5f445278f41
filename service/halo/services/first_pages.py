"""This worker's cache of anonymous first list pages: which videos, in which order.

The list page an anonymous caller opens first (no cursor, no text search,
sorted by creation time or title) is the same for every such caller until a
video is created, changed or deleted. A cached page holds only the ids and the
next cursor; the rows are the metadata cache's (`VideoCache`) and the counts
are read from the store on every request, as for any page.

It is kept right by the *lists mark*, a counter in the store that every
create, change and delete raises after it commits (`EngagementStore.
mark_lists_changed`). A page remembers the mark it was read under, and a
cached page is served only when the mark read with its counts, in the same
round trip, is still that one; otherwise the page is read again. So a worker
that missed a change notice still never serves a page from before the change.
Change notices also drop every page at once, and a page lives at most
`TTL_SECONDS` (the safety net for a mark lost with the store's data).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

TTL_SECONDS = 5.0
SIZE = 256  # pages (one per sort, filter and limit asked for); the least recently used go first


@dataclass(frozen=True, slots=True)
class CachedPage:
    ids: tuple[int, ...]
    next_cursor: str | None
    mark: int | None  # the lists mark the page was read under (None: no mark in the store yet)


class FirstPages:
    def __init__(
        self,
        *,
        size: int = SIZE,
        ttl_seconds: float = TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pages: OrderedDict[Hashable, tuple[CachedPage, float]] = OrderedDict()
        self._size = size
        self._ttl = ttl_seconds
        self._clock = clock
        self._generation = 0  # raised by every drop: a page read across one must not be stored

    def __len__(self) -> int:
        return len(self._pages)

    @property
    def enabled(self) -> bool:
        return self._size > 0

    @property
    def generation(self) -> int:
        """Take it before reading a page; `put` stores the page only if no drop came since."""
        return self._generation

    def get(self, key: Hashable) -> CachedPage | None:
        entry = self._pages.get(key)
        if entry is None:
            return None
        page, expires = entry
        if expires <= self._clock():
            del self._pages[key]
            return None
        self._pages.move_to_end(key)
        return page

    def put(self, key: Hashable, page: CachedPage, generation: int) -> None:
        if not self.enabled or generation != self._generation:
            return
        self._pages[key] = (page, self._clock() + self._ttl)
        self._pages.move_to_end(key)
        while len(self._pages) > self._size:
            self._pages.popitem(last=False)

    def clear(self) -> None:
        self._generation += 1
        self._pages.clear()
