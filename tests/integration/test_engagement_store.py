"""One contract, three engagement stores: Redis, Redis Cluster (production) and in-process (embedded default)."""

from __future__ import annotations

import asyncio

import pytest

from halo.engagement.redis_store import RedisEngagementStore
from halo.engagement.store import LISTS_MARK_ID, Counters, EngagementStore, LikeState, VideoGone
from tests.integration.conftest import new_id, redis_link


async def test_unknown_video_reads_as_empty(store: EngagementStore) -> None:
    video = new_id()
    snapshot = (await store.read([video]))[video]
    assert snapshot.counters is None
    assert snapshot.live_viewers == 0
    assert snapshot.views.beyond(0) == 0


async def test_counters_keep_the_newest_version(store: EngagementStore) -> None:
    video = new_id()
    await store.cache_counters([(video, Counters(likes=5, comments=1, version=7))])
    await store.cache_counters([(video, Counters(likes=3, comments=0, version=4))])  # late, older
    assert (await store.read([video]))[video].counters == Counters(5, 1, 7)
    await store.cache_counters([(video, Counters(likes=6, comments=1, version=8))])
    assert (await store.read([video]))[video].counters == Counters(6, 1, 8)


async def test_views_are_pending_until_claimed_then_batched_until_applied(store: EngagementStore) -> None:
    video, other = new_id(), new_id()
    for _ in range(3):
        await store.add_view(video)
    tally = await store.add_view(other)
    assert tally.beyond(0) >= 1
    assert (await store.read([video]))[video].views.beyond(0) == 3

    batches = await store.claim_views(floor_seq=0)
    mine = [b for b in batches if video in b.views]
    assert len(mine) == 1 and mine[0].views[video] == 3
    seq = mine[0].seq
    tally = (await store.read([video]))[video].views
    assert tally.pending == 0
    assert tally.beyond(seq - 1) == 3  # a row flushed before this batch still needs it
    assert tally.beyond(seq) == 0  # a row that has this batch does not count it twice

    await store.mark_applied([b.seq for b in batches])
    assert [
        b for b in await store.claim_views(floor_seq=0) if b.seq == seq
    ] == []  # applied: not handed out again


async def test_claim_numbers_batches_above_the_floor(store: EngagementStore) -> None:
    await store.add_view(new_id())
    batches = await store.claim_views(floor_seq=10_000_000)
    assert batches and max(b.seq for b in batches) > 10_000_000
    await store.mark_applied([b.seq for b in batches])


async def test_unapplied_batches_are_handed_out_again(store: EngagementStore) -> None:
    video = new_id()
    await store.add_view(video)
    first = [b for b in await store.claim_views(0) if video in b.views]
    # the flusher died before writing to the database: the next one gets the same batch
    await store.add_view(video)
    second = await store.claim_views(0)
    carrying = sorted((b.seq, b.views[video]) for b in second if video in b.views)
    assert carrying[0] == (first[0].seq, 1)
    assert len(carrying) == 2 and carrying[1][1] == 1
    await store.mark_applied([b.seq for b in second])


async def test_concurrent_claims_never_lose_or_double_a_view(store: EngagementStore) -> None:
    video = new_id()
    await asyncio.gather(*(store.add_view(video) for _ in range(200)))
    claims = await asyncio.gather(*(store.claim_views(0) for _ in range(5)))
    by_seq = {b.seq: b.views.get(video, 0) for claim in claims for b in claim}
    assert sum(by_seq.values()) == 200
    await store.mark_applied(list(by_seq))


async def test_presence_counts_each_viewer_once(store: EngagementStore) -> None:
    video = new_id()
    assert await store.heartbeat(video, "a:viewer-one", 30) == 1
    assert await store.heartbeat(video, "a:viewer-one", 30) == 1
    assert await store.heartbeat(video, "u:7", 30) == 2
    assert await store.leave(video, "a:viewer-one") == 1
    assert await store.leave(video, "a:viewer-one") == 1  # never below
    assert await store.leave(video, "u:7") == 0
    assert await store.leave(video, "u:7") == 0


async def test_presence_expires_after_its_ttl(store: EngagementStore) -> None:
    video = new_id()
    await store.heartbeat(video, "a:short-lived", 1)
    assert (await store.read([video]))[video].live_viewers == 1
    deadline = asyncio.get_running_loop().time() + 10
    while (await store.read([video]))[video].live_viewers and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.2)
    assert (await store.read([video]))[video].live_viewers == 0


async def test_presence_cost_is_bounded_with_many_expired_viewers(store: EngagementStore) -> None:
    video = new_id()
    await asyncio.gather(*(store.heartbeat(video, f"a:expired-{i}", 1) for i in range(300)))
    await asyncio.sleep(1.2)
    assert await store.heartbeat(video, "a:fresh-viewer", 30) == 1  # counts right before clean-up finishes


async def test_forgotten_video_refuses_late_writes(store: EngagementStore) -> None:
    video = new_id()
    await store.add_view(video)
    await store.heartbeat(video, "a:watcher-01", 30)
    await store.cache_counters([(video, Counters(1, 1, 1))])
    await store.forget(video)
    snapshot = (await store.read([video]))[video]
    assert snapshot.counters is None and snapshot.live_viewers == 0 and snapshot.views.pending == 0
    with pytest.raises(VideoGone):
        await store.add_view(video)
    with pytest.raises(VideoGone):
        await store.heartbeat(video, "a:watcher-01", 30)
    await store.cache_counters([(video, Counters(2, 2, 2))])
    assert (await store.read([video]))[video].counters is None


async def test_reads_asked_for_at_once_each_get_their_own_videos(store: EngagementStore) -> None:
    videos = [new_id() for _ in range(6)]
    for n, video in enumerate(videos):
        await store.cache_counters([(video, Counters(likes=n, comments=10 + n, version=1))])
        for _ in range(n):
            await store.add_view(video)

    results = await asyncio.gather(*(store.read([video]) for video in videos), store.read(videos[:2]))

    for n, video in enumerate(videos):
        snapshot = results[n][video]
        assert snapshot.counters == Counters(n, 10 + n, 1)
        assert snapshot.views.beyond(0) == n
    assert [results[-1][video].views.beyond(0) for video in videos[:2]] == [0, 1]


@pytest.mark.parametrize("redis_kind", ["redis", "cluster"])
async def test_reads_asked_for_at_once_go_to_redis_together(
    redis_kind: str, request: pytest.FixtureRequest
) -> None:
    """Dozens of detail requests in flight cost one script call between them, not one each."""
    link = await redis_link(request, redis_kind)
    store = RedisEngagementStore(link)
    calls: list[tuple[object, ...]] = []
    client = link.client
    send = client.execute_command if redis_kind == "redis" else None

    async def counted(*args: object, **options: object) -> object:
        calls.append(args)
        assert send is not None
        return await send(*args, **options)

    try:
        videos = [new_id() for _ in range(40)]
        if redis_kind == "redis":
            client.execute_command = counted
        else:  # the cluster reads per slot in one pipeline: count the pipelines sent
            pipeline = client.pipeline

            def counted_pipeline(*args: object, **options: object) -> object:
                calls.append(("pipeline",))
                return pipeline(*args, **options)

            client.pipeline = counted_pipeline
        results = await asyncio.gather(*(store.read([video]) for video in videos))
    finally:
        await link.client.aclose()

    assert len(calls) == 1, calls
    assert all(results[n][video].live_viewers == 0 for n, video in enumerate(videos))


async def test_a_change_mark_is_read_with_the_video_and_the_latest_wins(store: EngagementStore) -> None:
    video, other = new_id(), new_id()
    assert (await store.read([video]))[video].changed_ms is None
    await store.mark_changed(video, 2_000, ttl_seconds=60)
    await store.mark_changed(video, 1_000, ttl_seconds=60)  # late, older
    snapshots = await store.read([video, other])
    assert snapshots[video].changed_ms == 2_000
    assert snapshots[other].changed_ms is None
    await store.mark_changed(video, 3_000, ttl_seconds=60)
    assert (await store.read([video]))[video].changed_ms == 3_000


async def test_the_lists_mark_counts_every_raise_at_once_and_is_read_with_videos(
    store: EngagementStore,
) -> None:
    video = new_id()
    before = (await store.read([LISTS_MARK_ID]))[LISTS_MARK_ID].changed_ms or 0
    await asyncio.gather(*(store.mark_lists_changed() for _ in range(20)))
    snapshots = await store.read([video, LISTS_MARK_ID])  # one read: a page's counts and the mark
    assert snapshots[LISTS_MARK_ID].changed_ms == before + 20
    assert snapshots[video].changed_ms is None


async def test_like_states_keep_the_newest_version_per_user(store: EngagementStore) -> None:
    video, fan, other = new_id(), 11, 12
    assert (await store.read([video], liked_by=fan))[video].liked is None  # not cached: unknown
    await store.cache_likes([LikeState(video, fan, liked=True, version=5)])
    await store.cache_likes([LikeState(video, fan, liked=False, version=3)])  # a late, older answer
    assert (await store.read([video], liked_by=fan))[video].liked is True
    assert (await store.read([video], liked_by=other))[video].liked is None  # each user their own
    assert (await store.read([video]))[video].liked is None  # nobody asked
    await store.cache_likes([LikeState(video, fan, liked=False, version=6)])  # an unlike after it
    assert (await store.read([video], liked_by=fan))[video].liked is False


async def test_concurrent_reads_of_several_users_each_get_their_own_like(store: EngagementStore) -> None:
    videos = [new_id() for _ in range(3)]
    users = list(range(21, 27))
    await store.cache_likes(
        [
            LikeState(video, user, (user + index) % 2 == 0, 1)
            for index, video in enumerate(videos)
            for user in users
        ]
    )
    answers = await asyncio.gather(*(store.read(videos, liked_by=user) for user in users), store.read(videos))
    for user, snapshots in zip(users, answers, strict=False):
        assert [snapshots[video].liked for video in videos] == [(user + i) % 2 == 0 for i in range(3)]
    assert [answers[-1][video].liked for video in videos] == [None, None, None]


async def test_a_deleted_video_refuses_like_states(store: EngagementStore) -> None:
    video = new_id()
    await store.forget(video)
    await store.cache_likes([LikeState(video, 31, liked=True, version=9)])
    assert (await store.read([video], liked_by=31))[video].liked is None


@pytest.mark.parametrize("kind", ["redis", "cluster"])
async def test_like_states_of_an_older_epoch_count_as_missing(
    request: pytest.FixtureRequest, kind: str
) -> None:
    """After a Redis outage or a failed write the link starts a new epoch: a like state cached
    before it may be stale, so it is unknown until PostgreSQL answers again."""
    link = await redis_link(request, kind)
    store = RedisEngagementStore(link)
    video = new_id()
    try:
        await store.cache_likes([LikeState(video, 41, liked=True, version=2)])
        assert (await store.read([video], liked_by=41))[video].liked is True
        link.epoch = "a-newer-epoch"
        assert (await store.read([video], liked_by=41))[video].liked is None
        await store.cache_likes([LikeState(video, 41, liked=False, version=1)])  # lower version, new epoch
        assert (await store.read([video], liked_by=41))[video].liked is False
    finally:
        await link.client.aclose()
