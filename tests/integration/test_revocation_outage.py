"""A logout is never silently lost: the cache write failing (or Redis flushed) after the durable
write leaves no replica accepting the token, also when the replica that took the logout is cut off
from Redis alone. Two replicas share a throwaway Redis of the test's own."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from halo.redis.link import RedisLink
from halo.redis.login_throttle import MemoryLoginThrottle, ThrottleLimits
from halo.redis.registration_limit import MemoryRegistrationLimit
from halo.redis.revocation_cache import CACHE_KEY, LOADED, VERSION, RedisRevocationCache, warn_if_evictable
from halo.repositories.revocations import RevocationRepository
from halo.repositories.users import UserRepository
from halo.security.passwords import PasswordHasher
from halo.security.tokens import TokenCodec
from halo.services.auth import AuthService, Session
from halo.services.errors import Unauthorized
from tests.integration.conftest import unique
from tests.support.services import ThrowawayRedis

pytestmark = pytest.mark.usefixtures("orm")

TOKENS = TokenCodec("k" * 32, issuer="halo", audience="halo-api", ttl_seconds=600)


class Replica:
    """One replica's AuthService, with a Redis link and revocation cache of its own."""

    def __init__(self, url: str) -> None:
        self.client = Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self.link = RedisLink(self.client)
        self.cache = RedisRevocationCache(self.link)
        self.auth = AuthService(
            users=UserRepository(),
            revocations=RevocationRepository(),
            revocation_cache=self.cache,
            hasher=PasswordHasher(4, threads=2),
            tokens=TOKENS,
            throttle=MemoryLoginThrottle(ThrottleLimits()),
            registrations=MemoryRegistrationLimit(10_000),
        )

    async def ready(self) -> None:
        assert await self.link.probe()
        repository = RevocationRepository()
        await self.cache.load(repository.active, version=await repository.version())

    async def accepts(self, session: Session) -> bool:
        try:
            await self.auth.authenticate(session.token.token)
        except Unauthorized:
            return False
        return True


@pytest.fixture
async def replicas(throwaway_redis: ThrowawayRedis) -> AsyncIterator[tuple[Replica, Replica]]:
    first, second = Replica(throwaway_redis.url), Replica(throwaway_redis.url)
    await first.ready()
    await second.ready()
    yield first, second
    for replica in (first, second):
        await replica.client.aclose()
        replica.auth._hasher.close()


async def signed_in(replica: Replica) -> Session:
    return await replica.auth.register(
        email=f"{unique()}@example.com",
        username=unique(),
        password="password1",
        display_name="L",
        is_adult=False,
        client="192.0.2.1",
    )


async def test_a_failed_cache_write_after_the_durable_one_leaves_no_replica_accepting_the_token(
    replicas: tuple[Replica, Replica], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = replicas
    session = await signed_in(first)
    assert await second.accepts(session)  # its cache is complete and knows no revocation
    assert await second.cache.check(unique("jti")) is False

    async def lost(*args: Any, **kwargs: Any) -> None:
        raise RedisConnectionError("connection reset between the two writes")

    monkeypatch.setattr(first.client, "hset", lost)
    principal = await first.auth.authenticate(session.token.token)
    await first.auth.logout(principal)  # PostgreSQL has it; the cache write failed

    assert not await second.accepts(session)  # at once: no probe, no epoch change needed
    assert not await first.accepts(session)
    await asyncio.sleep(0.2)  # the reload its miss scheduled: from PostgreSQL, the truth
    assert await second.cache.check(principal.jti) is True


async def test_a_logout_whose_cache_write_and_invalidation_both_fail_holds_once_redis_answers_again(
    replicas: tuple[Replica, Replica], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = replicas
    session = await signed_in(first)
    assert await second.accepts(session)
    principal = await first.auth.authenticate(session.token.token)

    async def lost(*args: Any, **kwargs: Any) -> None:
        raise RedisConnectionError("redis unreachable from this replica")

    monkeypatch.setattr(first.client, "hset", lost)
    monkeypatch.setattr(first.client, "evalsha", lost)  # the invalidation script too
    await first.auth.logout(principal)  # PostgreSQL has it; neither the entry nor the invalidation landed
    assert not await first.accepts(session)  # Redis down for it: it reads PostgreSQL
    monkeypatch.undo()
    assert await first.link.probe()  # Redis answers again: its failed write starts a new cache epoch
    await second.link.probe()  # every replica follows at its next probe (once a second)
    assert not await second.accepts(session)
    assert not await first.accepts(session)


async def test_a_logout_lost_on_a_replica_cut_off_from_redis_alone_reaches_the_cache_from_the_others(
    replicas: tuple[Replica, Replica], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = replicas
    session, bystander = await signed_in(first), await signed_in(first)
    assert await second.accepts(session)
    principal = await first.auth.authenticate(session.token.token)

    async def lost(*args: Any, **kwargs: Any) -> None:
        raise RedisConnectionError("redis unreachable from this replica alone")

    monkeypatch.setattr(first.client, "hset", lost)
    monkeypatch.setattr(first.client, "evalsha", lost)
    await first.auth.logout(principal)  # in PostgreSQL only; the first replica stays cut off
    assert await second.cache.check(principal.jti) is False  # the cache misses it, and says it is complete

    assert await second.auth.catch_up_revocations() >= 1  # what every worker runs once a second
    assert not await second.accepts(session)
    assert await second.cache.check(principal.jti) is True
    assert await second.cache.check(unique("jti")) is False  # caught up, still complete: no reload needed
    assert await second.accepts(bystander)
    assert not first.link.up
    assert await second.auth.catch_up_revocations() == 0  # up to date: one small query, nothing written


async def test_revocation_versions_follow_the_commits_of_concurrent_logouts() -> None:
    repository = RevocationRepository()
    before = await repository.version()
    expires = int(time.time()) + 600
    jtis = [unique("jti") for _ in range(20)]
    versions = await asyncio.gather(*(repository.revoke(jti, expires) for jti in jtis))
    assert sorted(versions) == list(range(before + 1, before + 21))  # one each, none shared, none skipped
    assert await repository.version() == before + 20
    rows = await repository.since(before)
    assert [version for _, _, version in rows] == list(range(before + 1, before + 21))
    assert {jti for jti, _, _ in rows} == set(jtis)
    assert dict(zip(jtis, versions, strict=True)) == {jti: version for jti, _, version in rows}


async def test_catch_up_writes_into_a_flushed_cache_but_never_marks_it_complete(
    replicas: tuple[Replica, Replica],
) -> None:
    first, second = replicas
    session = await signed_in(first)
    await first.client.flushall()
    await RevocationRepository().revoke(unique("jti"), int(time.time()) + 600)
    assert await second.auth.catch_up_revocations() == 0
    assert await first.client.hget(CACHE_KEY, LOADED) is None
    assert await first.client.hget(CACHE_KEY, VERSION) is None
    assert await second.cache.check(unique("jti")) is None  # readers ask PostgreSQL, and reload
    assert await second.accepts(session)


async def test_a_cache_loaded_without_a_version_is_reloaded_rather_than_trusted(
    replicas: tuple[Replica, Replica],
) -> None:
    """A hash a replica without revocation versions loaded (a rolling update) cannot be caught up."""
    first, second = replicas
    await first.client.delete(CACHE_KEY)
    await first.cache.load(RevocationRepository().active)  # no version
    assert await second.cache.check(unique("jti")) is False
    await second.auth.catch_up_revocations()
    assert await second.cache.check(unique("jti")) is None
    await second.cache.load(RevocationRepository().active, version=await RevocationRepository().version())
    assert await second.cache.check(unique("jti")) is False
    assert await first.client.hget(CACHE_KEY, VERSION) is not None


async def test_a_flush_between_the_two_writes_leaves_no_replica_accepting_the_token(
    replicas: tuple[Replica, Replica], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = replicas
    session = await signed_in(first)
    other = await signed_in(first)
    assert await second.accepts(session)
    revoke = RevocationRepository.revoke

    async def then_flush(self: RevocationRepository, jti: str, expires_at: int) -> None:
        await revoke(self, jti, expires_at)
        await first.client.flushall()  # e.g. a failover to an empty replica

    monkeypatch.setattr(RevocationRepository, "revoke", then_flush)
    await first.auth.logout(await first.auth.authenticate(other.token.token))
    monkeypatch.undo()
    await second.link.probe()
    assert not await second.accepts(other)
    assert await second.accepts(session)  # the cache is reloaded from PostgreSQL, not emptied
    assert await second.cache.check(unique("jti")) in (None, False)


async def test_a_reload_racing_an_invalidation_does_not_mark_the_cache_complete(
    replicas: tuple[Replica, Replica],
) -> None:
    first, second = replicas
    jti = unique("jti")

    async def read_then_lose_a_write() -> list[tuple[str, int]]:
        rows = await RevocationRepository().active()  # read before the revocation below
        await first.client.hdel(CACHE_KEY, LOADED, "~ticket")  # what a failed logout write does
        return rows

    await second.cache.load(read_then_lose_a_write)
    assert await second.cache.check(jti) is None


async def test_entries_and_marker_live_in_one_key(replicas: tuple[Replica, Replica]) -> None:
    first, _ = replicas
    session = await signed_in(first)
    await first.auth.logout(await first.auth.authenticate(session.token.token))
    keys = {key.decode() for key in await first.client.keys("halo:revoked*")}
    assert keys == {CACHE_KEY}  # evicted or flushed, they go together


async def test_start_up_warns_when_redis_may_evict_keys_without_a_ttl(
    throwaway_redis: ThrowawayRedis, caplog: pytest.LogCaptureFixture
) -> None:
    client = Redis.from_url(throwaway_redis.url)
    link = RedisLink(client)
    try:
        await client.config_set("maxmemory-policy", "noeviction")
        assert await warn_if_evictable(link) is None
        await client.config_set("maxmemory-policy", "volatile-lru")
        assert await warn_if_evictable(link) is None
        await client.config_set("maxmemory-policy", "allkeys-lru")
        with caplog.at_level(logging.WARNING):
            assert "allkeys-lru" in (await warn_if_evictable(link) or "")
        assert any("maxmemory-policy" in record.getMessage() for record in caplog.records)
    finally:
        await client.aclose()
