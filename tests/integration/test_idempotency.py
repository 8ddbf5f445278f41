"""Idempotency-Key records: one contract for Redis, a Redis Cluster and the in-process store, under
concurrency; the service's answers (replay, 409, 422, 503) on top of them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from halo.config import Settings
from halo.redis.idempotency import (
    PREFIX,
    Claimed,
    IdempotencyStore,
    MemoryIdempotencyStore,
    RedisIdempotencyStore,
    StoredAnswer,
    Taken,
)
from halo.redis.link import link_for
from halo.services.errors import BadInput, Conflict, IdempotencyKeyReused, Unavailable
from halo.services.idempotency import Attempt, IdempotencyService, check_key, fingerprint
from tests.integration.conftest import redis_link, unique
from tests.support.services import free_port

ANSWER = StoredAnswer(201, b'{"id": 7}', "application/json; charset=utf-8")


@pytest.fixture(params=["memory", "redis", "cluster"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[IdempotencyStore]:
    if request.param == "memory":
        yield MemoryIdempotencyStore()
        return
    link = await redis_link(request)
    yield RedisIdempotencyStore(link)
    assert link.up
    await link.client.aclose()


async def test_of_claims_at_once_exactly_one_wins(store: IdempotencyStore) -> None:
    key = unique("key")
    results = await asyncio.gather(*(store.claim(key, "fp", 60) for _ in range(10)))
    claims = [result for result in results if isinstance(result, Claimed)]
    assert len(claims) == 1
    assert all(result == Taken("fp", None) for result in results if not isinstance(result, Claimed))


async def test_a_completed_claim_holds_the_answer(store: IdempotencyStore) -> None:
    key = unique("key")
    claim = await store.claim(key, "fp", 60)
    assert isinstance(claim, Claimed)
    await store.complete(key, claim, ANSWER, 60)
    assert await store.claim(key, "fp", 60) == Taken("fp", ANSWER)
    assert await store.claim(key, "other", 60) == Taken("fp", ANSWER)


async def test_a_released_key_can_be_claimed_again(store: IdempotencyStore) -> None:
    key = unique("key")
    claim = await store.claim(key, "fp", 60)
    assert isinstance(claim, Claimed)
    await store.release(key, claim)
    assert isinstance(await store.claim(key, "fp", 60), Claimed)


async def test_a_stale_claim_neither_releases_nor_overwrites_a_newer_one(store: IdempotencyStore) -> None:
    key = unique("key")
    first = await store.claim(key, "fp", 60)
    assert isinstance(first, Claimed)
    await store.release(key, first)
    second = await store.claim(key, "fp", 60)
    assert isinstance(second, Claimed)
    await store.release(key, first)
    await store.complete(key, first, ANSWER, 60)
    assert await store.claim(key, "fp", 60) == Taken("fp", None)  # still the second claim


def test_the_memory_store_is_bounded_and_forgets_expired_keys() -> None:
    now = [0.0]
    store = MemoryIdempotencyStore(max_keys=3, clock=lambda: now[0])

    async def run() -> None:
        for index in range(5):
            assert isinstance(await store.claim(f"k{index}", "fp", 10), Claimed)
        assert len(store._records) == 3
        assert await store.claim("k4", "fp", 10) == Taken("fp", None)
        now[0] = 11.0
        assert isinstance(await store.claim("k4", "fp", 10), Claimed)

    asyncio.run(run())


# --- the service ---------------------------------------------------------------


@pytest.fixture
def service() -> IdempotencyService:
    return IdempotencyService(MemoryIdempotencyStore())


async def test_a_repeat_gets_the_first_answer(service: IdempotencyService) -> None:
    attempt = await service.begin(1, "key", "fp")
    assert isinstance(attempt, Attempt)
    await service.finish(attempt, ANSWER)
    assert await service.begin(1, "key", "fp") == ANSWER


async def test_a_repeat_while_in_progress_is_a_conflict(service: IdempotencyService) -> None:
    assert isinstance(await service.begin(1, "key", "fp"), Attempt)
    with pytest.raises(Conflict):
        await service.begin(1, "key", "fp")


async def test_a_repeat_with_another_body_is_refused(service: IdempotencyService) -> None:
    attempt = await service.begin(1, "key", "fp")
    assert isinstance(attempt, Attempt)
    with pytest.raises(IdempotencyKeyReused):
        await service.begin(1, "key", "other")  # in progress
    await service.finish(attempt, ANSWER)
    with pytest.raises(IdempotencyKeyReused):
        await service.begin(1, "key", "other")  # answered


async def test_keys_are_per_caller(service: IdempotencyService) -> None:
    attempt = await service.begin(1, "key", "fp")
    assert isinstance(attempt, Attempt)
    await service.finish(attempt, ANSWER)
    assert isinstance(await service.begin(2, "key", "fp"), Attempt)


async def test_an_abandoned_request_frees_its_key(service: IdempotencyService) -> None:
    attempt = await service.begin(1, "key", "fp")
    assert isinstance(attempt, Attempt)
    await service.abandon(attempt)
    assert isinstance(await service.begin(1, "key", "fp"), Attempt)


async def test_a_slow_first_request_makes_its_repeats_conflicts(service: IdempotencyService) -> None:
    """A handler still running when its repeats arrive: each repeat is a 409, then a replay."""
    release = asyncio.Event()

    async def first() -> None:
        attempt = await service.begin(1, "key", "fp")
        assert isinstance(attempt, Attempt)
        await release.wait()
        await service.finish(attempt, ANSWER)

    running = asyncio.create_task(first())
    await asyncio.sleep(0)
    outcomes = await asyncio.gather(
        *(service.begin(1, "key", "fp") for _ in range(9)), return_exceptions=True
    )
    assert all(isinstance(outcome, Conflict) for outcome in outcomes)
    release.set()
    await running
    assert await service.begin(1, "key", "fp") == ANSWER


async def test_an_answer_is_kept_24_hours_then_forgotten() -> None:
    now = [1000.0]
    service = IdempotencyService(MemoryIdempotencyStore(clock=lambda: now[0]))
    attempt = await service.begin(1, "key", "fp")
    assert isinstance(attempt, Attempt)
    await service.finish(attempt, ANSWER)
    now[0] += 24 * 3600 - 1
    assert await service.begin(1, "key", "fp") == ANSWER
    now[0] += 2
    assert isinstance(await service.begin(1, "key", "fp"), Attempt)  # a new request


@pytest.mark.parametrize("kind", ["redis", "cluster"])
async def test_a_redis_record_lives_24_hours_from_its_claim_and_from_its_answer(
    request: pytest.FixtureRequest, kind: str
) -> None:
    link = await redis_link(request, kind)
    try:
        service = IdempotencyService(RedisIdempotencyStore(link))
        attempt = await service.begin(1, unique("key"), "fp")
        assert isinstance(attempt, Attempt)
        record = PREFIX + attempt.record_key
        assert 24 * 3600 - 5 <= await link.client.ttl(record) <= 24 * 3600
        await link.client.expire(record, 60)
        await service.finish(attempt, ANSWER)
        assert 24 * 3600 - 5 <= await link.client.ttl(record) <= 24 * 3600  # renewed with the answer
    finally:
        await link.client.aclose()


async def test_with_the_key_store_down_nothing_is_processed() -> None:
    link = link_for(
        Settings(
            env="development",
            database_url="sqlite://:memory:",
            redis_url=f"redis://127.0.0.1:{free_port()}/0",
        )
    )
    service = IdempotencyService(RedisIdempotencyStore(link))
    with pytest.raises(Unavailable):
        await service.begin(1, "key", "fp")
    await link.client.aclose()


def test_a_key_is_1_to_255_printable_ascii_characters() -> None:
    assert check_key(["a"]) == "a"
    assert check_key(["~" * 255]) == "~" * 255
    for bad in ([""], ["x" * 256], ["tab\there"], ["caf\u00e9"], ["del\x7f"], ["one", "two"]):
        with pytest.raises(BadInput) as raised:
            check_key(bad)
        assert raised.value.details[0].field == "Idempotency-Key"


def test_the_fingerprint_is_of_the_canonical_body() -> None:
    same = fingerprint("POST", "/api/v1/videos", {"a": 1, "b": [1, 2]})
    assert fingerprint("POST", "/api/v1/videos", {"b": [1, 2], "a": 1}) == same
    assert fingerprint("POST", "/api/v1/videos", {"a": 2, "b": [1, 2]}) != same
    assert fingerprint("POST", "/api/v1/videos/1/comments", {"a": 1, "b": [1, 2]}) != same
