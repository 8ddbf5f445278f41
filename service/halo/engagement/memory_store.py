"""The in-process engagement store of the embedded default (one process, SQLite).

Same contract as the Redis store, kept in dicts. Everything here is lost on
restart, as Redis data would be: counters refill from the database, pending
views since the last flush are gone. Memory is bounded: counters are a
bounded LRU cache, presence sets expire, applied view batches are dropped.
"""

from __future__ import annotations

import dataclasses
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence

from halo.engagement.store import (
    LISTS_MARK_ID,
    RANKING_KEEP_SECONDS,
    TOMBSTONE_SECONDS,
    TREND_BUCKET_SECONDS,
    TREND_BUCKET_TTL_SECONDS,
    TREND_BUCKETS,
    Counters,
    LikeState,
    Ranking,
    Snapshot,
    VideoGone,
    ViewBatch,
    ViewTally,
)

MAX_CACHED_COUNTERS = 100_000
MAX_LIKE_STATES = 1_000_000  # cached (video, user) like states; the least recently used go first
MAX_VIEW_MARKS = 1_000_000  # (video, viewer) marks of the view window; the oldest go first


class MemoryEngagementStore:
    def __init__(
        self, *, batch_retention_seconds: float = 30.0, on_change: Callable[[int], None] | None = None
    ) -> None:
        """`on_change(video_id)` runs after every write that may change what a viewer sees
        (as the Redis store publishes on the video's live channel)."""
        self._on_change = on_change or (lambda video_id: None)
        self._counters: OrderedDict[int, Counters] = OrderedDict()
        self._likes: OrderedDict[tuple[int, int], LikeState] = OrderedDict()  # (video, user)
        self._presence: dict[int, dict[str, float]] = {}
        self._gone: dict[int, float] = {}
        self._changed: dict[int, tuple[int, float]] = {}  # video -> (changed at ms, remembered until)
        self._lists_mark = 0
        self._pending: dict[int, int] = {}
        self._pending_since: float | None = None
        self._batches: dict[int, dict[int, int]] = {}
        self._batch_since: dict[int, float] = {}
        self._applied: dict[int, float] = {}
        self._seq = 0
        self._retention = batch_retention_seconds
        # (video, viewer) -> until; one window length for all, so insertion order is expiry order
        self._view_marks: OrderedDict[tuple[int, str], float] = OrderedDict()
        self._trend: dict[int, dict[int, int]] = {}  # hour -> video -> counted views
        self._rankings: dict[int, Ranking] = {}
        self._current_ranking: int | None = None
        self._ranking_lease_until = 0.0

    @staticmethod
    def _now() -> float:
        return time.monotonic()

    def _live(self, video_id: int, now: float) -> int:
        viewers = self._presence.get(video_id)
        if not viewers:
            return 0
        expired = [viewer for viewer, until in viewers.items() if until <= now][:100]
        for viewer in expired:
            del viewers[viewer]
        if not viewers:
            del self._presence[video_id]
            return 0
        return sum(1 for until in viewers.values() if until > now)

    def _tally(self, video_id: int) -> ViewTally:
        batches = tuple(
            (seq, views[video_id]) for seq, views in sorted(self._batches.items()) if video_id in views
        )
        return ViewTally(self._pending.get(video_id, 0), batches)

    def _changed_ms(self, video_id: int, now: float) -> int | None:
        if video_id == LISTS_MARK_ID:
            return self._lists_mark or None
        entry = self._changed.get(video_id)
        if entry is None:
            return None
        if entry[1] <= now:
            del self._changed[video_id]
            return None
        return entry[0]

    async def mark_lists_changed(self) -> None:
        self._lists_mark += 1

    async def mark_changed(self, video_id: int, changed_ms: int, ttl_seconds: int) -> None:
        now = self._now()
        if (self._changed_ms(video_id, now) or 0) < changed_ms:
            self._changed[video_id] = (changed_ms, now + ttl_seconds)
        if len(self._changed) > 100_000:  # bounded: the oldest marks go first
            for stale in list(self._changed)[:10_000]:
                del self._changed[stale]

    def _is_gone(self, video_id: int) -> bool:
        deleted_at = self._gone.get(video_id)
        if deleted_at is None:
            return False
        if self._now() - deleted_at > TOMBSTONE_SECONDS:
            del self._gone[video_id]
            return False
        return True

    async def read(self, video_ids: Sequence[int], liked_by: int | None = None) -> dict[int, Snapshot]:
        now = self._now()
        return {
            video_id: Snapshot(
                self._counters.get(video_id),
                self._tally(video_id),
                self._live(video_id, now),
                self._is_gone(video_id),
                self._changed_ms(video_id, now),
                self._liked(video_id, liked_by),
            )
            for video_id in video_ids
        }

    def _liked(self, video_id: int, user_id: int | None) -> bool | None:
        if user_id is None:
            return None
        state = self._likes.get((video_id, user_id))
        if state is None:
            return None
        self._likes.move_to_end((video_id, user_id))
        return state.liked

    async def cache_likes(self, states: Sequence[LikeState]) -> None:
        for state in states:
            if self._is_gone(state.video_id):
                continue
            key = (state.video_id, state.user_id)
            current = self._likes.get(key)
            if current is not None and current.version >= state.version:
                continue
            self._likes[key] = state
            self._likes.move_to_end(key)
            if len(self._likes) > MAX_LIKE_STATES:
                self._likes.popitem(last=False)

    async def cache_counters(self, items: Sequence[tuple[int, Counters]]) -> None:
        for video_id, counters in items:
            if self._is_gone(video_id):
                continue
            current = self._counters.get(video_id)
            if current is not None and current.version >= counters.version:
                continue
            self._counters[video_id] = counters
            self._counters.move_to_end(video_id)
            if len(self._counters) > MAX_CACHED_COUNTERS:
                self._counters.popitem(last=False)
            self._on_change(video_id)

    async def add_view(self, video_id: int, viewer: str | None = None, window_seconds: int = 0) -> ViewTally:
        # No await from the mark to the count: concurrent first views of one viewer count once.
        if self._is_gone(video_id):
            raise VideoGone(video_id)
        if (
            viewer is not None
            and window_seconds > 0
            and not self._mark_view(video_id, viewer, window_seconds)
        ):
            return dataclasses.replace(self._tally(video_id), counted=False)
        self._pending[video_id] = self._pending.get(video_id, 0) + 1
        if self._pending_since is None:
            self._pending_since = self._now()
        self._count_trending(video_id)
        self._on_change(video_id)
        return self._tally(video_id)

    def _mark_view(self, video_id: int, viewer: str, window_seconds: int) -> bool:
        """Set the viewer's mark unless a live one is there; whether it was set."""
        now = self._now()
        marks = self._view_marks
        while marks:
            oldest, until = next(iter(marks.items()))
            if until > now and len(marks) < MAX_VIEW_MARKS:
                break
            del marks[oldest]
        key = (video_id, viewer)
        marked_until = marks.get(key)
        if marked_until is not None and marked_until > now:
            return False
        marks.pop(key, None)
        marks[key] = now + window_seconds
        return True

    def _count_trending(self, video_id: int) -> None:
        hour = int(time.time() // TREND_BUCKET_SECONDS)
        bucket = self._trend.setdefault(hour, {})
        bucket[video_id] = bucket.get(video_id, 0) + 1
        oldest = hour - TREND_BUCKET_TTL_SECONDS // TREND_BUCKET_SECONDS
        for stale in [h for h in self._trend if h < oldest]:
            del self._trend[stale]

    async def heartbeat(self, video_id: int, viewer: str, ttl_seconds: int) -> int:
        if self._is_gone(video_id):
            raise VideoGone(video_id)
        now = self._now()
        viewers = self._presence.setdefault(video_id, {})
        previous = viewers.get(viewer)
        viewers[viewer] = now + ttl_seconds
        if previous is None or previous <= now:  # a renewal changes nothing anybody sees
            self._on_change(video_id)
        return self._live(video_id, now)

    async def leave(self, video_id: int, viewer: str) -> int:
        if self._is_gone(video_id):
            raise VideoGone(video_id)
        viewers = self._presence.get(video_id)
        if viewers is not None and viewers.pop(viewer, None) is not None:
            self._on_change(video_id)
        return self._live(video_id, self._now())

    async def forget(self, video_id: int) -> None:
        self._gone[video_id] = self._now()
        self._counters.pop(video_id, None)
        self._presence.pop(video_id, None)
        self._pending.pop(video_id, None)
        if not self._pending:
            self._pending_since = None
        self._on_change(video_id)

    async def claim_views(self, floor_seq: int) -> list[ViewBatch]:
        now = self._now()
        for seq, applied_at in list(self._applied.items()):
            if applied_at < now - self._retention:
                del self._applied[seq]
                self._batches.pop(seq, None)
                self._batch_since.pop(seq, None)
        self._seq = max(self._seq + 1, floor_seq + 1)
        if self._pending:
            self._batches[self._seq] = self._pending
            self._batch_since[self._seq] = self._pending_since or now
            self._pending, self._pending_since = {}, None
        return [
            ViewBatch(seq, dict(views), now - self._batch_since.get(seq, now))
            for seq, views in sorted(self._batches.items())
            if seq not in self._applied
        ]

    async def mark_applied(self, seqs: Sequence[int]) -> None:
        now = self._now()
        for seq in seqs:
            if seq in self._batches:
                self._applied[seq] = now

    async def trending_views(self) -> dict[int, int]:
        hour = int(time.time() // TREND_BUCKET_SECONDS)
        views: dict[int, int] = {}
        for bucket_hour in range(hour - TREND_BUCKETS + 1, hour + 1):
            for video_id, count in self._trend.get(bucket_hour, {}).items():
                if not self._is_gone(video_id):
                    views[video_id] = views.get(video_id, 0) + count
        return views

    async def claim_ranking_refresh(self, lease_seconds: float) -> bool:
        now = self._now()
        if now < self._ranking_lease_until:
            return False
        self._ranking_lease_until = now + lease_seconds
        return True

    async def save_ranking(self, ids: Sequence[int]) -> Ranking:
        now = time.time()
        for number, old in list(self._rankings.items()):
            if old.created_at < now - RANKING_KEEP_SECONDS:
                del self._rankings[number]
        number = max(self._rankings, default=self._current_ranking or 0) + 1
        ranking = self._rankings[number] = Ranking(number, tuple(ids), now)
        self._current_ranking = number
        return ranking

    async def ranking(self, number: int | None = None) -> Ranking | None:
        number = self._current_ranking if number is None else number
        found = self._rankings.get(number) if number is not None else None
        if found is None or found.created_at < time.time() - RANKING_KEEP_SECONDS:
            return None
        return found
