"""The engagement store: what is hot or ephemeral about a video, behind one small interface.

Two backends share this contract (and one test suite): Redis in production,
a dict in this process for the embedded default.

- Counters (likes, comments) are a *cache* of the durable counters on the
  video row: each copy carries the row's `counters_version` and the cache
  epoch; an older version never overwrites a newer one, and a copy from an
  older epoch counts as missing.
- Views are written here first and flushed to PostgreSQL in numbered
  batches. A video's displayed count is its durable `view_count` plus the
  views of every batch newer than the row's `view_flush_seq` plus pending
  ones, which is exact at every moment of a flush.
- A counted view is one per viewer and video per window: the viewer's mark
  is set (if absent) and the view counted in one atomic step, so concurrent
  first views count once. Counted views also land in hourly buckets kept
  25 hours, from which the trending ranking is built.
- A user's like of a video is cached beside its counters, with the
  `counters_version` it was true at and the cache epoch, under the same
  rule: an older version never overwrites a newer one, an older epoch counts
  as missing (PostgreSQL answers, and its answer is cached).
- Presence is a sorted set of viewers scored by expiry, on the store's clock.
- A deleted video leaves a tombstone, so that a late write cannot bring its
  keys back.
- The lists mark: a counter raised after every change to what list pages
  show (a video created, changed or deleted), read as the change mark of
  `LISTS_MARK_ID`, a video id no video has: a cached list page is checked
  against it in the same round trip as its counts (halo.services.first_pages).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from halo.values import value

TOMBSTONE_SECONDS = 3600
COUNTERS_TTL_SECONDS = 24 * 3600
TREND_BUCKET_SECONDS = 3600
TREND_BUCKETS = 24  # the ranking counts the views of the last 24 hourly buckets
TREND_BUCKET_TTL_SECONDS = 25 * 3600
RANKING_KEEP_SECONDS = 600  # a ranking (and the cursors pinned to it) lives 10 minutes
MAX_RANKED = 10_000  # videos a ranking orders by views; the rest follow by id
LISTS_MARK_ID = 0  # no video has id 0: its change mark is the lists mark
LIKE_STATE_TTL_SECONDS = 3600  # a video's cached like states live an hour past the last like or fill
MAX_LIKE_STATES_PER_VIDEO = 100_000  # a video's like states beyond this start again empty


@value
class Counters:
    likes: int
    comments: int
    version: int


@value
class ViewTally:
    """Views of one video not yet in its durable `view_count` (as of some `view_flush_seq`)."""

    pending: int = 0
    batches: tuple[tuple[int, int], ...] = ()  # (batch seq, views of this video in it)
    counted: bool = True  # False: this viewer's view was already counted in the window

    def beyond(self, flushed_seq: int) -> int:
        if not self.batches:  # the usual case between flushes
            return self.pending
        return self.pending + sum(views for seq, views in self.batches if seq > flushed_seq)


@value
class Snapshot:
    counters: Counters | None  # None: not cached in the current epoch
    views: ViewTally
    live_viewers: int
    gone: bool = False  # the video was deleted (its tombstone is there)
    changed_ms: int | None = None  # when its metadata last changed (ms since the epoch), while remembered
    liked: bool | None = None  # the asking user's like, when asked for and cached in this epoch


@dataclass(frozen=True, slots=True)
class LikeState:
    """Whether `user_id` likes `video_id`, as of the video's `counters_version` `version`."""

    video_id: int
    user_id: int
    liked: bool
    version: int


@dataclass(frozen=True, slots=True)
class ViewBatch:
    seq: int
    views: dict[int, int] = field(default_factory=dict)
    age_seconds: float = 0.0  # how long its oldest view has waited, at the claim


@dataclass(frozen=True, slots=True)
class Ranking:
    """A numbered, immutable trending ranking: video ids by views of the last 24 hours, then id."""

    number: int
    ids: tuple[int, ...]
    created_at: float  # unix seconds, the store's clock


class VideoGone(Exception):
    """The video was deleted: the write is refused."""


class EngagementStore(Protocol):
    async def read(self, video_ids: Sequence[int], liked_by: int | None = None) -> Mapping[int, Snapshot]:
        """Everything cached about these videos (and maybe others), in one round trip; with
        `liked_by`, each snapshot's `liked` is that user's cached like state (None: not cached)."""

    async def cache_counters(self, items: Sequence[tuple[int, Counters]]) -> None:
        """Remember durable counters unless a newer version is cached or the video is gone."""

    async def cache_likes(self, states: Sequence[LikeState]) -> None:
        """Remember like states unless a newer version is cached or the video is gone."""

    async def add_view(self, video_id: int, viewer: str | None = None, window_seconds: int = 0) -> ViewTally:
        """Count one view unless `viewer` already had one counted on this video in the last
        `window_seconds` (0 or no viewer: always counts); raises VideoGone. Returns the video's
        undurable views and whether this one counted."""

    async def heartbeat(self, video_id: int, viewer: str, ttl_seconds: int) -> int:
        """Mark `viewer` live for `ttl_seconds`; the number of live viewers (raises VideoGone)."""

    async def leave(self, video_id: int, viewer: str) -> int:
        """Forget `viewer`; the number of live viewers left (raises VideoGone)."""

    async def forget(self, video_id: int) -> None:
        """Drop everything about a deleted video and refuse later writes to it."""

    async def mark_changed(self, video_id: int, changed_ms: int, ttl_seconds: int) -> None:
        """Remember for `ttl_seconds` that the video's metadata changed at `changed_ms` (the latest
        of the marks wins): every worker's read sees it, even one that missed the change notice."""

    async def mark_lists_changed(self) -> None:
        """Raise the lists mark (read as the `changed_ms` of LISTS_MARK_ID): a video was created,
        changed or deleted, and list pages read before may be out of date."""

    async def claim_views(self, floor_seq: int) -> list[ViewBatch]:
        """Atomically move pending views into a new batch numbered above `floor_seq`;
        return every batch not yet marked applied (older, orphaned ones first)."""

    async def mark_applied(self, seqs: Sequence[int]) -> None:
        """The batches are in PostgreSQL; keep them briefly for readers, then drop them."""

    async def trending_views(self) -> dict[int, int]:
        """Views counted per video in the last 24 hourly buckets (this hour's included)."""

    async def claim_ranking_refresh(self, lease_seconds: float) -> bool:
        """Whether this caller is the one (of the whole fleet) to rebuild the ranking now: a
        lease that expires by itself, so a refresher that dies is replaced by the next one."""

    async def save_ranking(self, ids: Sequence[int]) -> Ranking:
        """Store a new numbered ranking, kept RANKING_KEEP_SECONDS, and make it the current one."""

    async def ranking(self, number: int | None = None) -> Ranking | None:
        """Ranking `number` (the current one when None); None once it is gone."""
