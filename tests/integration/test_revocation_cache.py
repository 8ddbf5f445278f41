"""The Redis revocation cache and the Redis link's epochs, against real Redis servers (and a cluster)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from redis.asyncio import Redis

from halo.redis.link import RedisLink, StoreUnavailable
from halo.redis.revocation_cache import CACHE_KEY, LOADED, RedisRevocationCache
from tests.integration.conftest import redis_link, unique
from tests.support.services import ThrowawayRedis


def entries(items: list[tuple[str, int]]) -> Callable[[], Awaitable[list[tuple[str, int]]]]:
    """What `load` reads: PostgreSQL's active revocations, here given."""

    async def read() -> list[tuple[str, int]]:
        return items

    return read


@pytest.fixture(params=["redis", "cluster"])
async def link(request: pytest.FixtureRequest) -> AsyncIterator[RedisLink]:
    link = await redis_link(request)
    yield link
    await link.client.aclose()


async def test_loaded_cache_answers_both_ways(link: RedisLink) -> None:
    cache = RedisRevocationCache(link)
    await link.client.hdel(CACHE_KEY, LOADED)  # as if never loaded (other tests share this key space)
    revoked = unique("jti")
    assert await cache.check(revoked) is None  # cannot tell
    await cache.load(
        entries(
            [(revoked, int(time.time()) + 60), *((unique("jti"), int(time.time()) + 60) for _ in range(50))]
        )
    )
    assert await cache.check(revoked) is True
    assert await cache.check(unique("jti")) is False
    other = unique("jti")
    await cache.add(other, int(time.time()) + 60)
    assert await cache.check(other) is True


async def test_flushed_redis_makes_the_cache_say_it_cannot_tell(link: RedisLink, redis_owner: str) -> None:
    cache = RedisRevocationCache(link)
    jti = unique("jti")
    await cache.load(entries([(jti, int(time.time()) + 60)]))
    await link.client.flushdb()  # on a cluster: every master
    await link.client.set("halo-test:lock", redis_owner)  # the run's claim on its database index
    assert await cache.check(jti) is None
    assert await cache.check(unique("jti")) is None


async def test_outage_then_recovery_starts_a_new_epoch_and_invalidates_the_cache(
    throwaway_redis: ThrowawayRedis,
) -> None:
    client = Redis.from_url(throwaway_redis.url, socket_timeout=0.5, socket_connect_timeout=0.5)
    link = RedisLink(client)
    assert await link.probe()
    cache = RedisRevocationCache(link)
    await cache.load(entries([]))
    assert await cache.check(unique("jti")) is False
    first_epoch = link.epoch

    port = throwaway_redis.port
    throwaway_redis.stop()
    with pytest.raises(StoreUnavailable):
        await cache.check(unique("jti"))
    assert link.up is False
    with pytest.raises(StoreUnavailable):  # fails fast while known to be down
        await cache.add(unique("jti"), int(time.time()) + 60)
    assert await link.probe() is False

    restarted = ThrowawayRedis(port=port).start()
    try:
        assert await link.probe() is True
        assert link.up
        assert link.epoch != first_epoch
        assert await cache.check(unique("jti")) is None  # an older epoch's completeness no longer counts
    finally:
        await client.aclose()
        restarted.stop()


async def test_failed_write_starts_a_new_epoch_even_if_redis_kept_its_data(link: RedisLink) -> None:
    before = link.epoch
    link.failed(write=True)  # a write that could not be confirmed
    assert await link.probe()
    assert link.epoch != before
    other = RedisLink(link.client)
    await other.probe()
    assert other.epoch == link.epoch  # other workers follow on their next probe


async def test_checks_asked_for_at_once_share_one_round_trip_and_each_get_their_own_answer(
    link: RedisLink,
) -> None:
    cache = RedisRevocationCache(link)
    revoked = [unique("jti") for _ in range(20)]
    await cache.load(entries([(jti, int(time.time()) + 60) for jti in revoked]))
    others = [unique("jti") for _ in range(20)]
    calls: list[object] = []
    client = link.client
    hmget = client.hmget

    def counted(*args: object, **options: object) -> object:
        calls.append(args)
        return hmget(*args, **options)

    client.hmget = counted  # type: ignore[method-assign]
    try:
        answers = await asyncio.gather(*(cache.check(jti) for jti in [*revoked, *others]))
    finally:
        client.hmget = hmget  # type: ignore[method-assign]
    assert len(calls) == 1
    assert answers == [True] * 20 + [False] * 20
