"""Trending: videos by views counted in the last 24 hours, ties by higher id.

Counted views land in hourly buckets (the engagement store keeps 25 of them). Every
`TRENDING_REFRESH_SECONDS` one worker of the whole fleet (whoever takes the store's
lease) sums the last 24 buckets into a numbered, immutable ranking of the top
MAX_RANKED videos, kept 10 minutes. A page reads one ranking: the first page the
current one, every later page the one its cursor is pinned to, so a walk never
repeats or skips a video however often the ranking is replaced meanwhile. After
the ranked videos come all the others (no counted views, or below the cut) by
descending id. A cursor whose ranking is gone is a 400.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from halo.engagement.store import MAX_RANKED, RANKING_KEEP_SECONDS, EngagementStore, Ranking
from halo.redis.link import StoreUnavailable
from halo.repositories.videos import ListFilters, VideoRepository, VideoRow, Visibility
from halo.security.cursors import CursorCodec
from halo.services.errors import BadInput, FieldIssue, Unavailable
from halo.services.pages import Page, bad_cursor, decode_cursor

log = logging.getLogger("halo.trending")

RANKINGS_KEPT = 4  # rankings a worker keeps parsed (each is immutable)
Refresh = Literal["built", "skipped", "failed"]


@dataclass(frozen=True, slots=True)
class TrendingQuery:
    limit: int
    cursor: str | None
    filters: ListFilters
    visibility: Visibility


class TrendingRanking:
    def __init__(
        self,
        *,
        store: EngagementStore,
        videos: VideoRepository,
        cursors: CursorCodec,
        refresh_seconds: float,
    ) -> None:
        self._store = store
        self._videos = videos
        self._cursors = cursors
        self._refresh_seconds = refresh_seconds
        self._parsed: OrderedDict[int, Ranking] = OrderedDict()
        self.on_refresh: list[Callable[[Refresh, float], None]] = []  # metrics: outcome, seconds

    # --- refreshing ----------------------------------------------------------------

    async def run(self) -> None:
        """Every worker runs this; the store's lease lets one of the fleet build each ranking."""
        while True:
            await self.refresh()
            # a little jitter, so the fleet's workers do not all ask for the lease at once
            await asyncio.sleep(self._refresh_seconds * random.uniform(0.9, 1.0))  # noqa: S311

    async def refresh(self) -> Ranking | None:
        """Build a new ranking if this worker holds the lease for this interval."""
        started = time.perf_counter()
        try:
            if not await self._store.claim_ranking_refresh(self._refresh_seconds * 0.9):
                self._refreshed("skipped", started)
                return None
            ranking = await self.build()
        except StoreUnavailable:
            self._refreshed("failed", started)
            return None
        except Exception:
            log.exception("trending refresh failed")
            self._refreshed("failed", started)
            return None
        self._refreshed("built", started)
        return ranking

    async def build(self) -> Ranking:
        views = await self._store.trending_views()
        ranked = sorted(views, key=lambda video_id: (-views[video_id], -video_id))[:MAX_RANKED]
        return await self._store.save_ranking(ranked)

    def _refreshed(self, outcome: Refresh, started: float) -> None:
        for listener in self.on_refresh:
            listener(outcome, time.perf_counter() - started)

    # --- reading -----------------------------------------------------------------

    async def page(self, query: TrendingQuery, scope: list[Any]) -> Page[VideoRow]:
        """One page of rows in ranking order; the cursor carries (ranking, phase, position)."""
        if query.cursor:
            number, phase, position = self._position(query.cursor, scope)
            ranking = await self._ranking(number)
            if ranking is None:
                raise BadInput("invalid cursor", [FieldIssue("cursor", "its trending ranking is gone")])
        else:
            ranking = await self._ranking(None)
            if ranking is None:  # none yet (a fresh store) or a stalled fleet: build one now
                ranking = await self._build_now()
            phase, position = "r", 0
        rows: list[VideoRow] = []
        if phase == "r":  # the ranked videos, from `position` in the ranking
            while len(rows) <= query.limit and position < len(ranking.ids):
                chunk = ranking.ids[position : position + query.limit + 1]
                found = {row.id: row for row in await self._videos.by_ids(chunk, query.visibility)}
                for video_id in chunk:
                    position += 1
                    row = found.get(video_id)
                    if row is not None and _matches(row, query.filters):
                        rows.append(row)
                        if len(rows) > query.limit:
                            break
            if len(rows) > query.limit:
                return Page(rows[: query.limit], self._cursor(scope, ranking, "r", position - 1))
            phase, position = "z", 0
        # the rest by descending id (`position`: the last id shown, 0 before the first)
        tail = await self._videos.page(
            sort="-id",
            filters=query.filters,
            visibility=query.visibility,
            after=(position, position) if position else None,
            limit=query.limit + 1 - len(rows),
            excluding=ranking.ids,
        )
        if len(rows) + len(tail) <= query.limit:
            return Page(rows + tail, None)
        shown = tail[: query.limit - len(rows)]
        return Page(rows + shown, self._cursor(scope, ranking, "z", shown[-1].id if shown else 0))

    def _cursor(self, scope: list[Any], ranking: Ranking, phase: str, position: int) -> str:
        return self._cursors.encode(scope, [ranking.number, phase, position])

    def _position(self, cursor: str, scope: list[Any]) -> tuple[int, str, int]:
        position = decode_cursor(self._cursors, cursor, scope)
        try:
            number, phase, at = position
            if phase not in ("r", "z"):
                raise ValueError(phase)
            return int(number), str(phase), int(at)
        except (TypeError, ValueError):
            raise bad_cursor() from None

    async def _ranking(self, number: int | None) -> Ranking | None:
        if number is not None and number in self._parsed:
            parsed = self._parsed[number]
            if parsed.created_at >= time.time() - RANKING_KEEP_SECONDS:
                self._parsed.move_to_end(number)
                return parsed
        try:
            ranking = await self._store.ranking(number)
        except StoreUnavailable:
            raise Unavailable("trending is temporarily unavailable") from None
        if ranking is not None:
            self._remember(ranking)
        return ranking

    async def _build_now(self) -> Ranking:
        try:
            ranking = await self.build()
        except StoreUnavailable:
            raise Unavailable("trending is temporarily unavailable") from None
        self._remember(ranking)
        return ranking

    def _remember(self, ranking: Ranking) -> None:
        self._parsed[ranking.number] = ranking
        self._parsed.move_to_end(ranking.number)
        while len(self._parsed) > RANKINGS_KEPT:
            self._parsed.popitem(last=False)


def _matches(row: VideoRow, filters: ListFilters) -> bool:
    """The list filters on a row already read (the ranked part is read by id)."""
    if filters.user_id is not None and row.user_id != filters.user_id:
        return False
    if filters.is_live is not None and row.is_live != filters.is_live:
        return False
    return not filters.q or filters.q.casefold() in row.title.casefold()
