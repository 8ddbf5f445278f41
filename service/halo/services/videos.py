"""Video metadata: list pages, detail, create, change, delete; the per-worker metadata cache kept
in step across workers and replicas by change notices. Visibility comes first everywhere."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from halo.db import replicas
from halo.engagement.store import LISTS_MARK_ID, EngagementStore, Snapshot
from halo.redis.event_bus import EventBus
from halo.redis.link import StoreUnavailable
from halo.repositories.videos import ListFilters, Sort, VideoRepository, VideoRow
from halo.security.cursors import CursorCodec
from halo.services.auth import Principal
from halo.services.engagement import CounterMerge, Engagement, VideoView
from halo.services.errors import BadInput, FieldIssue, Forbidden
from halo.services.first_pages import CachedPage, FirstPages
from halo.services.pages import Page, bad_cursor, decode_cursor
from halo.services.trending import TrendingQuery, TrendingRanking
from halo.services.video_cache import VideoCache
from halo.services.visibility import MAX_ID, can_see, not_found, valid_id, visibility_of

log = logging.getLogger("halo.videos")

NOTICE_ROWS = 2000  # rows per flush notice: bounded messages
# How old a cached row may be where no change mark can be read (Redis down: notices are lost too),
# and for the visibility checks of writes, which read no mark: a changed adult flag holds within it.
UNCHECKED_ROW_SECONDS = 5.0
MAX_BATCH_IDS = 100
BATCH_ID = re.compile(r"[1-9][0-9]{0,18}")
NOT_WITH_IDS = ("cursor", "sort", "q", "user_id", "is_live")

ListSort = Sort | Literal["-trending"]
# First pages cached for anonymous callers: the orders that only a create, change or delete moves
# (never a view flush), without a text search (free text: too many pages for one cache).
CACHED_SORTS = frozenset({"-created_at", "created_at", "title"})


@dataclass(frozen=True, slots=True)
class ListQuery:
    limit: int = 20
    cursor: str | None = None
    sort: ListSort = "-created_at"
    user_id: int | None = None
    is_live: bool | None = None
    q: str | None = None
    ids: str | None = None  # a batch read: comma-separated ids, alone
    given: frozenset[str] = frozenset()  # the parameters the request named


class VideoService:
    def __init__(
        self,
        *,
        videos: VideoRepository,
        counters: CounterMerge,
        store: EngagementStore,
        cursors: CursorCodec,
        cache: VideoCache,
        events: EventBus,
        trending: TrendingRanking,
        pages: FirstPages | None = None,
    ) -> None:
        self._trending = trending
        # the rows of a cached page are the metadata cache's: without it, no page is cached
        self._pages = pages if pages is not None and cache.enabled else FirstPages(size=0)
        self._videos = videos
        self._counters = counters
        self._store = store
        self._cursors = cursors
        self._cache = cache
        self._events = events

    # --- change notices from every worker and replica (subscribed in create_app) ----

    def on_notice(self, message: dict[str, Any]) -> None:
        kind = message.get("kind")
        if kind == "changed":
            self._cache.drop(message["ids"])
            self._pages.clear()
        elif kind == "flushed":
            self._cache.flushed(message["rows"])

    def on_notices_lost(self) -> None:
        """Notices may have been missed (a resubscription): forget every cached row and page."""
        self._cache.clear()
        self._pages.clear()

    async def _changed(self, video_id: int, row: VideoRow | None = None) -> None:
        """Every worker's copy goes: at once by notice, and at its next read by the change mark in
        the store, which a worker that missed the notice (pub/sub drops them) still reads. The same
        for cached list pages, by the lists mark (raised after the write committed)."""
        self._cache.drop([video_id])
        self._pages.clear()
        with contextlib.suppress(StoreUnavailable):
            if row is not None:
                ttl = int(self._cache.ttl_seconds) + 10  # outlives every copy cached before the change
                await self._store.mark_changed(video_id, _ms(row.updated_at), ttl)
            await self._store.mark_lists_changed()
        await self._events.publish({"kind": "changed", "ids": [video_id]})

    async def views_flushed(self, rows: list[tuple[int, int, int]]) -> None:
        """After a view flush: every worker's cached rows take their new durable counts."""
        self._cache.flushed(rows)
        for start in range(0, len(rows), NOTICE_ROWS):
            await self._events.publish({"kind": "flushed", "rows": rows[start : start + NOTICE_ROWS]})

    # --- reading -----------------------------------------------------------------

    async def list_videos(self, viewer: Principal | None, query: ListQuery) -> Page[VideoView]:
        if query.ids is not None or "ids" in query.given:
            return await self._batch(viewer, query)
        filters = ListFilters(user_id=query.user_id, is_live=query.is_live, q=query.q or None)
        scope = ["videos", query.sort, filters.user_id, filters.is_live, filters.q]
        if query.sort == "-trending":
            return await self._trending_page(viewer, query, filters, scope)
        sort = query.sort
        if (
            viewer is None
            and not query.cursor
            and filters.q is None
            and sort in CACHED_SORTS
            and self._pages.enabled
        ):
            return await self._first_page(query, sort, filters, scope)
        return await self._page(viewer, query, sort, filters, scope)

    async def _page(
        self, viewer: Principal | None, query: ListQuery, sort: Sort, filters: ListFilters, scope: list[Any]
    ) -> Page[VideoView]:
        after = None
        if query.cursor:
            after = self._decode_position(query.cursor, scope, sort)
        rows = await self._videos.page(
            sort=sort,
            filters=filters,
            visibility=visibility_of(viewer),
            after=after,
            limit=query.limit + 1,
        )
        next_cursor = None
        if len(rows) > query.limit:
            rows = rows[: query.limit]
            last = rows[-1]
            key = last.sort_key(sort)
            next_cursor = self._cursors.encode(
                scope, [key.isoformat() if isinstance(key, datetime) else key, last.id]
            )
        views, degraded = await self._counters.with_engagement(rows, viewer)
        return Page(views, next_cursor, degraded)

    async def _first_page(
        self, query: ListQuery, sort: Sort, filters: ListFilters, scope: list[Any]
    ) -> Page[VideoView]:
        """An anonymous first page: from this worker's cache while the lists mark, every row's
        change mark and the counters read with them (one round trip) say it is current; else
        read as any page, and cached under the mark read before it."""
        key = (sort, filters.user_id, filters.is_live, query.limit)
        cached = self._pages.get(key)
        if cached is not None:
            rows = [row for video_id in cached.ids if (row := self._cache.get(video_id)) is not None]
            if len(rows) == len(cached.ids):  # else some left the metadata cache: read the page again
                snapshots = await self._counters.read([*cached.ids, LISTS_MARK_ID])
                if snapshots is not None and _current(cached, rows, snapshots):
                    return Page(await self._counters.merge(rows, snapshots), cached.next_cursor, False)
        generation, rows_generation = self._pages.generation, self._cache.generation
        marks = await self._counters.read([LISTS_MARK_ID])  # before the rows: a later change raises it
        # From the primary: a replica may not have replayed a change the mark already counts.
        fresh = replicas.primary_only.set(marks is not None)
        try:
            page = await self._page(None, query, sort, filters, scope)
        finally:
            replicas.primary_only.reset(fresh)
        if marks is not None and not page.degraded:
            mark = marks[LISTS_MARK_ID].changed_ms
            self._cache.put_missing([view.video for view in page.items], rows_generation)
            ids = tuple(view.video.id for view in page.items)
            self._pages.put(key, CachedPage(ids, page.next_cursor, mark), generation)
        return page

    async def _trending_page(
        self, viewer: Principal | None, query: ListQuery, filters: ListFilters, scope: list[Any]
    ) -> Page[VideoView]:
        rows = await self._trending.page(
            TrendingQuery(query.limit, query.cursor, filters, visibility_of(viewer)), scope
        )
        views, degraded = await self._counters.with_engagement(rows.items, viewer)
        return Page(views, rows.next_cursor, degraded)

    async def _batch(self, viewer: Principal | None, query: ListQuery) -> Page[VideoView]:
        """The videos asked for by id, in the order asked, those missing or hidden left out:
        one query for the rows and one batched engagement read."""
        ids = batch_ids(query.ids or "", [name for name in NOT_WITH_IDS if name in query.given])
        rows = {row.id: row for row in await self._videos.by_ids(ids, visibility_of(viewer))}
        views, degraded = await self._counters.with_engagement(
            [rows[video_id] for video_id in ids if video_id in rows], viewer
        )
        return Page(views, None, degraded)

    async def get(self, viewer: Principal | None, video_id: int) -> VideoView:
        video_id = valid_id(video_id)
        if viewer is None:  # the hot path: no read beyond the video's own
            view = await self.current(video_id)
            if view is None or not can_see(view.video, viewer):
                raise not_found()
            return view
        view, snapshots = await self._current(video_id, viewer.user_id)
        if view is None or not can_see(view.video, viewer):
            raise not_found()
        return (await self._counters.with_likes(viewer, [view], snapshots))[0]

    async def current(self, video_id: int) -> VideoView | None:
        """The video with its engagement whoever asks (None once deleted): callers apply `can_see`."""
        return (await self._current(video_id))[0]

    async def _current(
        self, video_id: int, liked_by: int | None = None
    ) -> tuple[VideoView | None, Mapping[int, Snapshot] | None]:
        """`current`, and the Redis snapshots it merged (with `liked_by`'s cached like)."""
        video = self._cache.get(video_id)
        cached = video is not None
        if video is not None:  # the warm path: one Redis round trip
            snapshots = await self._counters.read([video_id], liked_by)
            if _outdated(video, snapshots) or (snapshots is None and self._older_than_unchecked(video_id)):
                video, cached = await self._load(video_id, max_age=0.0), False
        else:  # metadata and engagement fetched concurrently, then merged
            video, snapshots = await asyncio.gather(
                self._load(video_id), self._counters.read([video_id], liked_by)
            )
        if video is None or (snapshots and snapshots[video_id].gone):
            return None, snapshots
        return (await self._counters.merge([video], snapshots, rows_are_fresh=not cached))[0], snapshots

    async def visible(self, viewer: Principal | None, video_id: int) -> VideoRow:
        """The video's row when `viewer` may see it, else 404."""
        video = await self._load(valid_id(video_id), max_age=UNCHECKED_ROW_SECONDS)
        if video is None or not can_see(video, viewer):
            raise not_found()
        return video

    # --- writing -------------------------------------------------------------------

    async def create(self, principal: Principal, fields: dict[str, Any]) -> VideoView:
        if fields.get("is_adult_content") and not principal.is_adult:
            raise Forbidden("only adult accounts may publish adult content")
        video = await self._videos.create(principal.user_id, fields)
        await self._changed(video.id)  # on list pages from now on, cached ones included
        return VideoView(video, Engagement(0, 0, 0, 0), liked=False)

    async def update(self, principal: Principal, video_id: int, changes: dict[str, Any]) -> VideoView:
        await self._owned(principal, video_id)
        if changes.get("is_adult_content") and not principal.is_adult:
            raise Forbidden("only adult accounts may mark content as adult")
        video = await self._videos.update(video_id, changes)
        await self._changed(video_id, video)
        if video is None:
            raise not_found()
        views, _ = await self._counters.with_engagement([video], principal)
        return views[0]

    async def delete(self, principal: Principal, video_id: int) -> None:
        await self._owned(principal, video_id)
        deleted = await self._videos.delete(video_id)
        try:  # the tombstone first, so that a worker acting on a stale copy is refused by Redis
            await self._store.forget(video_id)
        except StoreUnavailable:
            log.warning("video %s deleted while Redis is down; its cached keys expire on their own", video_id)
        await self._changed(video_id)
        if not deleted:
            raise not_found()

    # --- helpers -----------------------------------------------------------------

    async def _load(self, video_id: int, max_age: float | None = None) -> VideoRow | None:
        # A signed-in caller may just have written this row: its read goes where its write is
        # (halo.db.replicas), never joining another caller's load that a lagging replica may answer.
        return await self._cache.load(video_id, self._videos.get, max_age, join=replicas.caller.get() is None)

    def _older_than_unchecked(self, video_id: int) -> bool:
        age = self._cache.age(video_id)
        return age is not None and age > UNCHECKED_ROW_SECONDS

    async def _owned(self, principal: Principal, video_id: int) -> VideoRow:
        video = await self.visible(principal, video_id)  # visibility before ownership
        if video.user_id != principal.user_id:
            raise Forbidden("only the owner may change this video")
        return video

    def _decode_position(self, cursor: str, scope: list[Any], sort: Sort) -> tuple[Any, int]:
        position = decode_cursor(self._cursors, cursor, scope)
        try:
            key, last_id = position
            if sort.endswith("created_at"):
                key = datetime.fromisoformat(key)
            elif sort.endswith("view_count"):
                key = int(key)
            elif not isinstance(key, str):
                raise TypeError(key)
            return key, int(last_id)
        except (TypeError, ValueError):
            raise bad_cursor() from None


def batch_ids(text: str, combined_with: list[str]) -> list[int]:
    """`ids` of a batch read: 1-100 distinct positive ids, comma-separated, and no other filter
    or cursor beside them; else a 400 on `ids`."""

    def bad(issue: str) -> BadInput:
        return BadInput("invalid query parameter", [FieldIssue("ids", issue)])

    if combined_with:
        raise bad(f"cannot be combined with {', '.join(combined_with)}")
    parts = text.split(",")
    if len(parts) > MAX_BATCH_IDS:
        raise bad(f"at most {MAX_BATCH_IDS} ids")
    if not all(BATCH_ID.fullmatch(part) for part in parts):
        raise bad("must be comma-separated positive integer ids")
    ids = [int(part) for part in parts]
    if any(video_id > MAX_ID for video_id in ids):
        raise bad("must be comma-separated positive integer ids")
    if len(set(ids)) != len(ids):
        raise bad("must not repeat an id")
    return ids


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _current(cached: CachedPage, rows: list[VideoRow], snapshots: Mapping[int, Snapshot]) -> bool:
    """A cached page still holds: the lists mark is the one it was read under, and each of its
    cached rows is unchanged, not deleted, with its counters in the store (else the page is read
    again, which brings the counters with the rows)."""
    if snapshots[LISTS_MARK_ID].changed_ms != cached.mark:
        return False
    for row in rows:
        snapshot = snapshots[row.id]
        if snapshot.gone or snapshot.counters is None or _outdated(row, snapshots):
            return False
    return True


def _outdated(row: VideoRow, snapshots: Mapping[int, Snapshot] | None) -> bool:
    """The store holds a change mark newer than this copy of the row."""
    if not snapshots:
        return False
    changed = snapshots[row.id].changed_ms
    return changed is not None and changed > _ms(row.updated_at)
