"""The Redis engagement store: Lua scripts, so each operation is atomic and one round trip.

Keys of one video share the hash tag `{v:ID}` and the view batches share
`{views}`, so every script touches a single Redis Cluster slot. Times come
from Redis (`TIME`), so replicas with skewed clocks agree on presence.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import NoScriptError

from halo.concurrency import ReadCoalescer
from halo.engagement.store import (
    COUNTERS_TTL_SECONDS,
    LIKE_STATE_TTL_SECONDS,
    LISTS_MARK_ID,
    MAX_LIKE_STATES_PER_VIDEO,
    MAX_RANKED,
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
from halo.redis.link import REDIS_FAILURES, RedisLink, StoreUnavailable
from halo.redis.live_signals import live_channel

T = TypeVar("T")

PENDING = "halo:{views}:pending"
BATCHES = "halo:{views}:batches"  # zset of batch seqs (score = seq)
APPLIED = "halo:{views}:applied"  # hash seq -> applied at (ms)
SEQ = "halo:{views}:seq"
GONE_VIEWS = "halo:{views}:gone"  # hash video id -> deleted at (ms): refuses late views
BATCH_PREFIX = "halo:{views}:batch:"
TREND_PREFIX = "halo:{views}:trend:"  # + hour: zset video id -> views counted in that hour
VIEW_MARK_PREFIX = "halo:{views}:seen:"  # + video id:viewer, kept for the view window
TREND_UNION = "halo:{views}:trend:union"  # scratch key of READ_TRENDING, gone when it returns
RANKING_LEASE = "halo:{trending}:lease"  # held by the one refresher of the fleet
RANKING_SEQ = "halo:{trending}:seq"
RANKING_CURRENT = "halo:{trending}:current"
RANKING_PREFIX = "halo:{trending}:ranking:"  # + number: "created ms|id,id,..."


def counters_key(video_id: int) -> str:
    return f"halo:{{v:{video_id}}}:c"


def changed_key(video_id: int) -> str:
    return f"halo:{{v:{video_id}}}:m"


def presence_key(video_id: int) -> str:
    return f"halo:{{v:{video_id}}}:p"


def likes_key(video_id: int) -> str:
    """The video's cached like states: a hash of user id -> "epoch|version|0 or 1"."""
    return f"halo:{{v:{video_id}}}:u"


def gone_key(video_id: int) -> str:
    return f"halo:{{v:{video_id}}}:gone"


_NOW_MS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS: counters, presence, gone   -> {likes, comments, version, epoch, live, gone}
READ_VIDEO = (
    _NOW_MS
    + """
local c = redis.call('HMGET', KEYS[1], 'l', 'c', 'v', 'e')
local live = redis.call('ZCOUNT', KEYS[2], '(' .. now, '+inf')
return {c[1], c[2], c[3], c[4], live, redis.call('EXISTS', KEYS[3]), redis.call('GET', KEYS[4])}
"""
)

# One call for everything about N videos (single Redis; a cluster uses READ_VIDEO + READ_VIEWS per slot).
# KEYS: pending, batches, then counters, presence, gone, changed of each video, then the likes hash
# of each like state asked for; ARGV: the number of videos n, the n video ids, then the user of each
# like state asked for -> {{video fields as READ_VIDEO, ...}, pending values, {seq, values, ...},
# like state values}
READ_ALL = (
    _NOW_MS
    + f"""
local n = tonumber(ARGV[1])
local videos = {{}}
for i = 1, n do
  local base = 2 + (i - 1) * 4
  local c = redis.call('HMGET', KEYS[base + 1], 'l', 'c', 'v', 'e')
  local live = redis.call('ZCOUNT', KEYS[base + 2], '(' .. now, '+inf')
  local gone = redis.call('EXISTS', KEYS[base + 3])
  videos[i] = {{c[1], c[2], c[3], c[4], live, gone, redis.call('GET', KEYS[base + 4])}}
end
local pending = redis.call('HMGET', KEYS[1], unpack(ARGV, 2, n + 1))
local batches = {{}}
for _, seq in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  batches[#batches + 1] = seq
  batches[#batches + 1] = redis.call('HMGET', '{BATCH_PREFIX}' .. seq, unpack(ARGV, 2, n + 1))
end
local likes = {{}}
for j = 1, #KEYS - 2 - n * 4 do
  likes[j] = redis.call('HGET', KEYS[2 + n * 4 + j], ARGV[n + 1 + j])
end
return {{videos, pending, batches, likes}}
"""
)

# KEYS: pending, batches; ARGV: video ids -> {pending values, {seq, values, seq, values, ...}}
READ_VIEWS = f"""
local pending = redis.call('HMGET', KEYS[1], unpack(ARGV))
local batches = {{}}
for _, seq in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  batches[#batches + 1] = seq
  batches[#batches + 1] = redis.call('HMGET', '{BATCH_PREFIX}' .. seq, unpack(ARGV))
end
return {{pending, batches}}
"""

# Writes end with a PUBLISH on the video's live channel (ARGV[n], see halo.redis.live_signals):
# the sockets watching it hear of the change from the write itself, on any replica.

# KEYS: counters, gone; ARGV: likes, comments, version, epoch, ttl, live channel
FILL_COUNTERS = """
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local current = redis.call('HMGET', KEYS[1], 'v', 'e')
if current[2] == ARGV[4] and current[1] and tonumber(current[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[1], 'l', ARGV[1], 'c', ARGV[2], 'v', ARGV[3], 'e', ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('PUBLISH', ARGV[6], '')
return 1
"""

# KEYS: likes hash, gone; ARGV: user, epoch, version, liked (0/1), ttl, most entries. An entry of
# this epoch with the same or a newer version stays: a late answer of PostgreSQL never overwrites
# a later like. The hash lives an hour past its last like or fill (reads do not extend it); one
# that reaches the bound starts again empty (a cache: what it lacks comes from PostgreSQL).
FILL_LIKE = """
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current then
  local epoch, version = string.match(current, '^([^|]*)|(%d+)|')
  if epoch == ARGV[2] and tonumber(version) >= tonumber(ARGV[3]) then return 0 end
elseif redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[6]) then
  redis.call('DEL', KEYS[1])
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. '|' .. ARGV[3] .. '|' .. ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""

# KEYS: pending, batches, gone views, the viewer's mark; ARGV: video id, live channel, window s
# -> {pending, {seq, n, ...}, counted}, or -1 when gone. The mark (SET NX EX) and the count are
# one step, so concurrent first views of one viewer count once. A counted view also goes into
# its hour's trending bucket (same slot), kept 25 hours.
ADD_VIEW = (
    _NOW_MS
    + f"""
if redis.call('HEXISTS', KEYS[3], ARGV[1]) == 1 then return -1 end
local counted = 1
if tonumber(ARGV[3]) > 0 and not redis.call('SET', KEYS[4], '1', 'NX', 'EX', ARGV[3]) then counted = 0 end
local pending
if counted == 1 then
  pending = redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
  redis.call('HSETNX', KEYS[1], 'since', now)  -- when the oldest pending view came in
  local bucket = '{TREND_PREFIX}' .. math.floor(now / {TREND_BUCKET_SECONDS * 1000})
  redis.call('ZINCRBY', bucket, 1, ARGV[1])
  redis.call('EXPIRE', bucket, {TREND_BUCKET_TTL_SECONDS})
  redis.call('PUBLISH', ARGV[2], '')
else
  pending = redis.call('HGET', KEYS[1], ARGV[1])
end
local batches = {{}}
for _, seq in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  batches[#batches + 1] = seq
  batches[#batches + 1] = redis.call('HGET', '{BATCH_PREFIX}' .. seq, ARGV[1])
end
return {{pending, batches, counted}}
"""
)

# KEYS: presence, gone; ARGV: viewer, ttl ms, live channel -> live viewers, or -1 when gone
HEARTBEAT = (
    _NOW_MS
    + """
if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
local previous = redis.call('ZSCORE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
-- bounded clean-up: at most 100 expired viewers per call, however many there are
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 100)
if #expired > 0 then redis.call('ZREM', KEYS[1], unpack(expired)) end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
-- a renewal changes nothing anybody sees; a new (or returning) viewer or a clean-up does
if not previous or tonumber(previous) <= now or #expired > 0 then redis.call('PUBLISH', ARGV[3], '') end
return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
"""
)

# KEYS: presence, gone; ARGV: viewer, live channel -> live viewers, or -1 when gone
LEAVE = (
    _NOW_MS
    + """
if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then redis.call('PUBLISH', ARGV[2], '') end
return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
"""
)

# KEYS: counters, presence, gone, likes; ARGV: tombstone ttl, live channel
FORGET = """
redis.call('SET', KEYS[3], '1', 'EX', ARGV[1])
redis.call('DEL', KEYS[1], KEYS[2], KEYS[4])
redis.call('PUBLISH', ARGV[2], '')
return 1
"""

# KEYS: pending, gone views; ARGV: video id   (the same video's {views}-slot side)
FORGET_VIEWS = (
    _NOW_MS
    + """
redis.call('HSET', KEYS[2], ARGV[1], now)
redis.call('HDEL', KEYS[1], ARGV[1])
return 1
"""
)

# KEYS: pending, batches, applied, seq, gone views; ARGV: floor seq, retention ms, tombstone ms
# -> {now, seq, {field, value, ...}, seq, {...}} for every batch not yet applied
CLAIM_VIEWS = (
    _NOW_MS
    + f"""
local gone = redis.call('HGETALL', KEYS[5])
for i = 1, #gone, 2 do
  if tonumber(gone[i + 1]) < now - tonumber(ARGV[3]) then redis.call('HDEL', KEYS[5], gone[i]) end
end
local applied = redis.call('HGETALL', KEYS[3])
for i = 1, #applied, 2 do
  if tonumber(applied[i + 1]) < now - tonumber(ARGV[2]) then
    redis.call('DEL', '{BATCH_PREFIX}' .. applied[i])
    redis.call('ZREM', KEYS[2], applied[i])
    redis.call('HDEL', KEYS[3], applied[i])
  end
end
local seq = redis.call('INCR', KEYS[4])
if seq <= tonumber(ARGV[1]) then
  seq = tonumber(ARGV[1]) + 1
  redis.call('SET', KEYS[4], seq)
end
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('RENAME', KEYS[1], '{BATCH_PREFIX}' .. seq)
  redis.call('ZADD', KEYS[2], seq, seq)
end
local result = {{now}}
for _, s in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  if redis.call('HEXISTS', KEYS[3], s) == 0 then
    result[#result + 1] = s
    result[#result + 1] = redis.call('HGETALL', '{BATCH_PREFIX}' .. s)
  end
end
return result
"""
)

# KEYS: applied; ARGV: seqs
MARK_APPLIED = (
    _NOW_MS
    + """
for _, s in ipairs(ARGV) do redis.call('HSET', KEYS[1], s, now) end
return #ARGV
"""
)


# KEYS: gone views, union scratch; ARGV: how many of the top to return
# -> {video id, views, ...} of the last 24 hourly buckets, the top ones, deleted videos left out
READ_TRENDING = (
    _NOW_MS
    + f"""
local hour = math.floor(now / {TREND_BUCKET_SECONDS * 1000})
local buckets = {{}}
for h = hour - {TREND_BUCKETS - 1}, hour do buckets[#buckets + 1] = '{TREND_PREFIX}' .. h end
redis.call('ZUNIONSTORE', KEYS[2], #buckets, unpack(buckets))
local top = redis.call('ZREVRANGE', KEYS[2], 0, tonumber(ARGV[1]) - 1, 'WITHSCORES')
redis.call('DEL', KEYS[2])
local out = {{}}
for i = 1, #top, 2 do
  if redis.call('HEXISTS', KEYS[1], top[i]) == 0 then
    out[#out + 1] = top[i]
    out[#out + 1] = top[i + 1]
  end
end
return out
"""
)

# KEYS: seq, current; ARGV: ids (comma-separated), keep s -> {number, created ms}
SAVE_RANKING = (
    _NOW_MS
    + f"""
local n = redis.call('INCR', KEYS[1])
redis.call('SET', '{RANKING_PREFIX}' .. n, now .. '|' .. ARGV[1], 'EX', ARGV[2])
redis.call('SET', KEYS[2], n)
return {{n, now}}
"""
)

# KEYS: current; ARGV: number, or '' for the current one -> {number, "created ms|ids"} or nil
READ_RANKING = f"""
local n = ARGV[1]
if n == '' then
  n = redis.call('GET', KEYS[1])
  if not n then return nil end
end
local value = redis.call('GET', '{RANKING_PREFIX}' .. n)
if not value then return nil end
return {{n, value}}
"""

# KEYS: changed; ARGV: changed at (ms), ttl -> 1 when it is now the latest mark
MARK_CHANGED = """
local current = redis.call('GET', KEYS[1])
if current and tonumber(current) >= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"""

SCRIPTS = {
    "read_video": READ_VIDEO,
    "mark_changed": MARK_CHANGED,
    "read_all": READ_ALL,
    "read_views": READ_VIEWS,
    "fill": FILL_COUNTERS,
    "fill_like": FILL_LIKE,
    "add_view": ADD_VIEW,
    "heartbeat": HEARTBEAT,
    "leave": LEAVE,
    "forget": FORGET,
    "forget_views": FORGET_VIEWS,
    "claim": CLAIM_VIEWS,
    "mark": MARK_APPLIED,
    "read_trending": READ_TRENDING,
    "save_ranking": SAVE_RANKING,
    "read_ranking": READ_RANKING,
}
SHAS = {name: hashlib.sha1(source.encode()).hexdigest() for name, source in SCRIPTS.items()}  # noqa: S324


def _video_keys(video_id: int) -> list[str]:
    """What a read looks at for one video, in READ_VIDEO's order (one cluster slot)."""
    return [counters_key(video_id), presence_key(video_id), gone_key(video_id), changed_key(video_id)]


def _int(value: Any) -> int:
    return int(value) if value is not None else 0


def _liked(state: Any, epoch: str) -> bool | None:
    """A cached like state, if it belongs to the current epoch."""
    if state is None or not epoch:
        return None
    entry_epoch, _, rest = state.decode().partition("|")
    return rest.endswith("|1") if entry_epoch == epoch else None


def _tally(pending: Any, batches: list[Any]) -> ViewTally:
    pairs = tuple(
        (int(batches[i]), int(batches[i + 1]))
        for i in range(0, len(batches), 2)
        if batches[i + 1] is not None
    )
    return ViewTally(_int(pending), pairs)


class RedisEngagementStore:
    def __init__(self, link: RedisLink, *, batch_retention_seconds: float = 30.0) -> None:
        self._link = link
        # On a cluster one script cannot read keys of several slots: reads go per video.
        self._cluster = isinstance(link.client, RedisCluster)
        self._retention_ms = int(batch_retention_seconds * 1000)
        self._loads = 0  # times this store has loaded its scripts
        self._loading = asyncio.Lock()
        # keyed by (video id, user id whose like state is wanted, or 0)
        self._reads: ReadCoalescer[tuple[int, int], Snapshot] = ReadCoalescer(self._read_now)

    async def _run(self, op: Callable[[], Awaitable[T]], *, write: bool) -> T:
        """Scripts run by SHA (one round trip); after a Redis restart they are loaded again."""

        async def attempt() -> T:
            loads = self._loads
            try:
                return await op()
            except NoScriptError:
                await self._load_scripts(loads)
                return await op()

        return await self._link.run(attempt, write=write)

    async def _eval(self, name: str, keys: Sequence[str], args: Sequence[Any], *, write: bool) -> Any:
        """One script, one round trip: `_run` without the closures, for the hot paths."""
        link = self._link
        if link.bounded:  # a cluster: calls in flight are capped, so go through the link
            return await self._run(lambda: self._call(link.client, name, keys, args), write=write)
        if not link.up:
            raise StoreUnavailable("redis is down")
        loads = self._loads
        try:
            try:
                return await self._call(link.client, name, keys, args)
            except NoScriptError:
                await self._load_scripts(loads)
                return await self._call(link.client, name, keys, args)
        except REDIS_FAILURES as exc:
            raise link.call_failed(exc, write=write) from exc

    async def _load_scripts(self, loads_seen: int) -> None:
        """Load the scripts once for every call that found them missing, not once per call:
        after a restart under load, hundreds of calls fail at once (on a cluster, each load
        goes to every master)."""
        async with self._loading:
            if self._loads == loads_seen:
                for source in SCRIPTS.values():
                    await self._link.client.script_load(source)
                self._loads += 1

    def _call(self, target: Any, name: str, keys: Sequence[str], args: Sequence[Any] = ()) -> Any:
        # Through execute_command: redis-py's cluster pipeline refuses its evalsha() method,
        # but routes a queued EVALSHA by its keys (checked to share one slot) like any command.
        # It also skips evalsha()'s deprecated-argument wrapper, 4% of the warm detail path.
        return target.execute_command("EVALSHA", SHAS[name], len(keys), *keys, *args)

    async def read(self, video_ids: Sequence[int], liked_by: int | None = None) -> Mapping[int, Snapshot]:
        """Snapshots of `video_ids`: reads asked for together share one call (halo.concurrency)."""
        if not video_ids:
            return {}
        user = liked_by or 0
        found = await self._reads.read([(video_id, user) for video_id in video_ids])
        return {video_id: found[(video_id, user)] for video_id in video_ids}

    async def _read_now(self, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], Snapshot]:
        epoch = self._link.epoch
        video_ids = list(dict.fromkeys(video_id for video_id, _ in keys))
        asked = [(video_id, user) for video_id, user in keys if user]
        if self._cluster:
            raw_videos, pending, batches, likes = await self._run(
                lambda: self._read_by_slot(video_ids, asked), write=False
            )
        else:
            redis_keys = [PENDING, BATCHES]
            for video_id in video_ids:
                redis_keys += _video_keys(video_id)
            redis_keys += [likes_key(video_id) for video_id, _ in asked]
            args = [len(video_ids), *video_ids, *(user for _, user in asked)]
            raw_videos, pending, batches, likes = await self._eval("read_all", redis_keys, args, write=False)
        snapshots = {}
        for index, video_id in enumerate(video_ids):
            count_likes, comments, version, entry_epoch, live, gone, changed = raw_videos[index]
            counters = None
            if version is not None and epoch and entry_epoch is not None and entry_epoch.decode() == epoch:
                counters = Counters(int(count_likes), int(comments), int(version))
            if batches:
                mine = [v for i in range(0, len(batches), 2) for v in (batches[i], batches[i + 1][index])]
                tally = _tally(pending[index], mine)
            else:  # no flushed batch still retained: only the pending views
                tally = ViewTally(_int(pending[index]))
            snapshots[(video_id, 0)] = Snapshot(
                counters,
                tally,
                int(live),
                bool(gone),
                int(changed) if changed is not None else None,
            )
        for key, state in zip(asked, likes, strict=True):
            snapshots[key] = dataclasses.replace(snapshots[(key[0], 0)], liked=_liked(state, epoch))
        return snapshots

    async def _read_by_slot(
        self, video_ids: Sequence[int], asked: Sequence[tuple[int, int]]
    ) -> tuple[list[Any], list[Any], list[Any], list[Any]]:
        async with self._link.client.pipeline(transaction=False) as pipe:
            for video_id in video_ids:
                self._call(pipe, "read_video", _video_keys(video_id))
            for video_id, user in asked:
                pipe.hget(likes_key(video_id), str(user))
            self._call(pipe, "read_views", [PENDING, BATCHES], video_ids)
            results = await pipe.execute()
        pending, batches = results[-1]
        count = len(video_ids)
        return results[:count], pending, batches, results[count:-1]

    async def cache_likes(self, states: Sequence[LikeState]) -> None:
        epoch = self._link.epoch
        if not states or not epoch:
            return

        async def op() -> None:
            async with self._link.client.pipeline(transaction=False) as pipe:
                for state in states:
                    self._call(
                        pipe,
                        "fill_like",
                        [likes_key(state.video_id), gone_key(state.video_id)],
                        [
                            state.user_id,
                            epoch,
                            state.version,
                            int(state.liked),
                            LIKE_STATE_TTL_SECONDS,
                            MAX_LIKE_STATES_PER_VIDEO,
                        ],
                    )
                await pipe.execute()

        await self._run(op, write=True)

    async def cache_counters(self, items: Sequence[tuple[int, Counters]]) -> None:
        epoch = self._link.epoch
        if not items or not epoch:
            return

        async def op() -> None:
            async with self._link.client.pipeline(transaction=False) as pipe:
                for video_id, counters in items:
                    self._call(
                        pipe,
                        "fill",
                        [counters_key(video_id), gone_key(video_id)],
                        [
                            counters.likes,
                            counters.comments,
                            counters.version,
                            epoch,
                            COUNTERS_TTL_SECONDS,
                            live_channel(video_id),
                        ],
                    )
                await pipe.execute()

        await self._run(op, write=True)

    async def add_view(self, video_id: int, viewer: str | None = None, window_seconds: int = 0) -> ViewTally:
        window = window_seconds if viewer is not None else 0
        result = await self._eval(
            "add_view",
            [PENDING, BATCHES, GONE_VIEWS, f"{VIEW_MARK_PREFIX}{video_id}:{viewer or ''}"],
            [video_id, live_channel(video_id), window],
            write=True,
        )
        if result == -1:
            raise VideoGone(video_id)
        pending, batches, counted = result
        return dataclasses.replace(_tally(pending, batches), counted=bool(counted))

    async def heartbeat(self, video_id: int, viewer: str, ttl_seconds: int) -> int:
        live = await self._run(
            lambda: self._call(
                self._link.client,
                "heartbeat",
                [presence_key(video_id), gone_key(video_id)],
                [viewer, ttl_seconds * 1000, live_channel(video_id)],
            ),
            write=True,
        )
        if live < 0:
            raise VideoGone(video_id)
        return int(live)

    async def leave(self, video_id: int, viewer: str) -> int:
        live = await self._run(
            lambda: self._call(
                self._link.client,
                "leave",
                [presence_key(video_id), gone_key(video_id)],
                [viewer, live_channel(video_id)],
            ),
            write=True,
        )
        if live < 0:
            raise VideoGone(video_id)
        return int(live)

    async def mark_changed(self, video_id: int, changed_ms: int, ttl_seconds: int) -> None:
        await self._eval("mark_changed", [changed_key(video_id)], [changed_ms, ttl_seconds], write=True)

    async def mark_lists_changed(self) -> None:
        key = changed_key(LISTS_MARK_ID)
        await self._run(lambda: self._link.client.incr(key), write=True)

    async def forget(self, video_id: int) -> None:
        async def op() -> None:
            async with self._link.client.pipeline(transaction=False) as pipe:
                self._call(
                    pipe,
                    "forget",
                    [counters_key(video_id), presence_key(video_id), gone_key(video_id), likes_key(video_id)],
                    [TOMBSTONE_SECONDS, live_channel(video_id)],
                )
                self._call(pipe, "forget_views", [PENDING, GONE_VIEWS], [video_id])
                await pipe.execute()

        await self._run(op, write=True)

    async def claim_views(self, floor_seq: int) -> list[ViewBatch]:
        raw = await self._run(
            lambda: self._call(
                self._link.client,
                "claim",
                [PENDING, BATCHES, APPLIED, SEQ, GONE_VIEWS],
                [floor_seq, self._retention_ms, TOMBSTONE_SECONDS * 1000],
            ),
            write=True,
        )
        now_ms, entries = int(raw[0]), raw[1:]
        batches = []
        for i in range(0, len(entries), 2):
            fields = dict(zip(entries[i + 1][::2], entries[i + 1][1::2], strict=True))
            since = fields.pop(b"since", None)
            views = {int(video_id): int(count) for video_id, count in fields.items()}
            age = (now_ms - int(since)) / 1000 if since is not None else 0.0
            batches.append(ViewBatch(int(entries[i]), views, max(0.0, age)))
        return sorted(batches, key=lambda batch: batch.seq)

    async def mark_applied(self, seqs: Sequence[int]) -> None:
        if seqs:
            await self._run(lambda: self._call(self._link.client, "mark", [APPLIED], list(seqs)), write=True)

    async def trending_views(self) -> dict[int, int]:
        # the top of the union, with room for ties at the cut and deleted videos left out
        raw = await self._run(
            lambda: self._call(
                self._link.client, "read_trending", [GONE_VIEWS, TREND_UNION], [2 * MAX_RANKED]
            ),
            write=True,
        )
        return {int(raw[i]): int(float(raw[i + 1])) for i in range(0, len(raw), 2)}

    async def claim_ranking_refresh(self, lease_seconds: float) -> bool:
        claimed = await self._run(
            lambda: self._link.client.set(RANKING_LEASE, "1", nx=True, px=max(1, int(lease_seconds * 1000))),
            write=True,
        )
        return bool(claimed)

    async def save_ranking(self, ids: Sequence[int]) -> Ranking:
        encoded = ",".join(str(video_id) for video_id in ids)
        number, created_ms = await self._run(
            lambda: self._call(
                self._link.client,
                "save_ranking",
                [RANKING_SEQ, RANKING_CURRENT],
                [encoded, RANKING_KEEP_SECONDS],
            ),
            write=True,
        )
        return Ranking(int(number), tuple(ids), int(created_ms) / 1000)

    async def ranking(self, number: int | None = None) -> Ranking | None:
        raw = await self._run(
            lambda: self._call(
                self._link.client, "read_ranking", [RANKING_CURRENT], ["" if number is None else number]
            ),
            write=False,
        )
        if raw is None:
            return None
        created_ms, _, encoded = raw[1].decode().partition("|")
        ids = tuple(int(part) for part in encoded.split(",")) if encoded else ()
        return Ranking(int(raw[0]), ids, int(created_ms) / 1000)
