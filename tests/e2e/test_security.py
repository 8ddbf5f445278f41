"""Security properties across instances: one rate limit, throttled logins, rotation, revocation."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import jwt
import pytest

from halo.redis.revocation_cache import CACHE_KEY
from tests.e2e.conftest import assert_envelope, register, unique
from tests.support.accounts import REGISTER, new_account
from tests.support.polling import poll_until
from tests.support.server import RunningServer, base_env, serving, serving_pair
from tests.support.services import ThrowawayRedis
from tests.support.tcp_proxy import CuttableProxy


@pytest.fixture
def shared_limit(
    database_url: str, throwaway_redis: ThrowawayRedis
) -> Iterator[tuple[RunningServer, RunningServer]]:
    env = base_env(
        database_url,
        throwaway_redis.url,
        WORKERS="2",
        RATE_LIMIT_BACKEND="redis",
        RATE_LIMIT_RPS="0.2",
        RATE_LIMIT_BURST="6",
        REDIS_TIMEOUT_SECONDS="0.5",
    )
    yield from serving_pair(env)


def test_redis_rate_limit_is_one_limit_across_instances(
    shared_limit: tuple[RunningServer, RunningServer], throwaway_redis: ThrowawayRedis
) -> None:
    first, second = shared_limit
    statuses = []
    for i in range(10):  # alternate instances and fresh connections (both workers of each)
        server = first if i % 2 else second
        statuses.append(httpx.get(f"{server.url}/api/v1/nope").status_code)
    assert statuses.count(404) == 6 and statuses.count(429) == 4
    limited = httpx.get(f"{first.url}/api/v1/nope")
    assert_envelope(limited, 429, "rate_limited")
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.headers["ratelimit-limit"] == "6"

    # Redis down: each process falls back to its own bucket, requests keep being served
    throwaway_redis.stop()
    served = [httpx.get(f"{first.url}/api/v1/nope").status_code for _ in range(4)]
    assert 404 in served and 500 not in served
    assert httpx.get(f"{first.url}/health/live").status_code == 200


@pytest.fixture
def throttled(database_url: str, redis_url: str) -> Iterator[RunningServer]:
    env = base_env(
        database_url,
        redis_url,
        WORKERS="2",
        TRUSTED_PROXIES="127.0.0.1/32",
        LOGIN_MAX_FAILURES_PER_ACCOUNT_IP="3",
        LOGIN_MAX_FAILURES_PER_ACCOUNT="6",
        LOGIN_FAILURE_WINDOW_SECONDS="3",
    )
    yield from serving(env)


async def test_failed_logins_are_throttled_per_account_and_ip_but_not_forever(
    throttled: RunningServer,
) -> None:
    async with httpx.AsyncClient(base_url=throttled.url, timeout=30) as client:
        victim = await register(client)
        home = {"X-Forwarded-For": "203.0.113.10"}
        assert (
            await client.post(
                "/api/v1/auth/login", json={"email": victim.email, "password": victim.password}, headers=home
            )
        ).status_code == 200  # the victim's known source
        attacker = {"X-Forwarded-For": "198.51.100.66"}
        wrong = {"email": victim.email, "password": "not-the-password"}
        for _ in range(3):
            assert (await client.post("/api/v1/auth/login", json=wrong, headers=attacker)).status_code == 401
        limited = await client.post("/api/v1/auth/login", json=wrong, headers=attacker)
        assert_envelope(limited, 429, "rate_limited")
        assert 1 <= int(limited.headers["retry-after"]) <= 3
        # refused before the password is even looked at: the right one is refused too
        right = {"email": victim.email, "password": victim.password}
        assert (await client.post("/api/v1/auth/login", json=right, headers=attacker)).status_code == 429
        # many sources now: the account locks for new sources, not for the victim's known one
        for i in range(6):
            await client.post(
                "/api/v1/auth/login", json=wrong, headers={"X-Forwarded-For": f"198.51.100.{100 + i}"}
            )
        fresh = {"X-Forwarded-For": "192.0.2.200"}
        assert (await client.post("/api/v1/auth/login", json=right, headers=fresh)).status_code == 429
        assert (await client.post("/api/v1/auth/login", json=right, headers=home)).status_code == 200
        # and never forever: after the window the attacker's source may try again
        await asyncio.sleep(3.5)
        assert (await client.post("/api/v1/auth/login", json=right, headers=attacker)).status_code == 200


async def test_wrong_guesses_at_once_from_one_ipv6_64_check_at_most_the_limit(
    throttled: RunningServer,
) -> None:
    """Twenty guesses at once, over both workers, from addresses of one /64 (one client): as many
    401s as the limit, the rest 429 (test_login_concurrency counts that no other password is checked)."""
    prefix = f"2001:db8:{unique('')[:4]}:{unique('')[:4]}"
    async with httpx.AsyncClient(base_url=throttled.url, timeout=30) as client:
        victim = await register(client)
        wrong = {"email": victim.email, "password": "not-the-password"}
        responses = await asyncio.gather(
            *(
                client.post(
                    "/api/v1/auth/login", json=wrong, headers={"X-Forwarded-For": f"{prefix}::{n + 1:x}"}
                )
                for n in range(20)
            )
        )
        statuses = [r.status_code for r in responses]
        assert statuses.count(401) == 3 and statuses.count(429) == 17, statuses  # LOGIN_MAX_..._ACCOUNT_IP
        assert all(int(r.headers["retry-after"]) >= 1 for r in responses if r.status_code == 429)
        right = {"email": victim.email, "password": victim.password}
        same_64 = {"X-Forwarded-For": f"{prefix}:ffff:ffff:ffff:ffff"}
        assert (await client.post("/api/v1/auth/login", json=right, headers=same_64)).status_code == 429
        other_64 = {"X-Forwarded-For": f"2001:db8:{unique('')[:4]}:{unique('')[:4]}::1"}
        assert (await client.post("/api/v1/auth/login", json=right, headers=other_64)).status_code == 200


def test_secret_rotation_keeps_old_tokens_valid_and_signs_new_ones_with_the_new_secret(
    database_url: str, redis_url: str
) -> None:
    old_secret, new_secret = "o" * 40, "n" * 40
    before = RunningServer(base_env(database_url, redis_url, WORKERS="1", JWT_SECRET=old_secret)).start()
    try:
        body = new_account()
        old_token = httpx.post(f"{before.url}{REGISTER}", json=body).json()["token"]
    finally:
        before.terminate()
    after = RunningServer(
        base_env(database_url, redis_url, WORKERS="1", JWT_SECRET=new_secret, JWT_PREVIOUS_SECRETS=old_secret)
    ).start()
    try:
        profile = httpx.get(
            f"{after.url}/api/v1/auth/profile", headers={"Authorization": f"Bearer {old_token}"}
        )
        assert profile.status_code == 200
        new_token = httpx.post(
            f"{after.url}/api/v1/auth/login", json={"email": body["email"], "password": "password123"}
        ).json()["token"]
        jwt.decode(new_token, new_secret, algorithms=["HS256"], audience="halo-api")
        with pytest.raises(jwt.InvalidSignatureError):
            jwt.decode(new_token, old_secret, algorithms=["HS256"], audience="halo-api")
    finally:
        after.terminate()
    without_previous = RunningServer(
        base_env(database_url, redis_url, WORKERS="1", JWT_SECRET=new_secret)
    ).start()
    try:
        refused = httpx.get(
            f"{without_previous.url}/api/v1/auth/profile", headers={"Authorization": f"Bearer {old_token}"}
        )
        assert refused.status_code == 401
    finally:
        without_previous.terminate()


def test_logout_on_one_replica_holds_on_the_others_also_after_a_flush(
    database_url: str, throwaway_redis: ThrowawayRedis
) -> None:
    env = base_env(database_url, throwaway_redis.url, WORKERS="2")
    for first, second in serving_pair(env):
        token = httpx.post(f"{first.url}{REGISTER}", json=new_account()).json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        assert httpx.get(f"{second.url}/api/v1/auth/profile", headers=auth).status_code == 200
        assert httpx.post(f"{first.url}/api/v1/auth/logout", headers=auth).status_code == 204
        for _ in range(4):
            assert httpx.get(f"{second.url}/api/v1/auth/profile", headers=auth).status_code == 401
        import redis

        client = redis.Redis.from_url(throwaway_redis.url)
        client.flushall()
        client.close()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # whatever the caches hold, never accepted again
            for server in (first, second):
                assert httpx.get(f"{server.url}/api/v1/auth/profile", headers=auth).status_code == 401
            time.sleep(0.2)


def test_a_logout_on_a_replica_cut_off_from_redis_alone_is_refused_by_the_others(
    database_url: str, throwaway_redis: ThrowawayRedis
) -> None:
    """A network split: one replica reaches PostgreSQL but not Redis, the other reaches both. A logout
    through the cut-off one lands in PostgreSQL only (neither the cache entry nor the invalidation
    gets to Redis); the other's workers bring the cache up to PostgreSQL's revocation version and
    refuse the token within seconds, while the cut-off replica is still cut off."""
    import redis

    proxy = CuttableProxy(("127.0.0.1", throwaway_redis.port)).start()
    env = base_env(database_url, throwaway_redis.url, WORKERS="2", REDIS_TIMEOUT_SECONDS="0.5")
    cut_off = RunningServer({**env, "WORKERS": "1", "REDIS_URL": f"redis://{proxy.address}/0"})
    other = RunningServer(dict(env))
    direct = redis.Redis.from_url(throwaway_redis.url)
    try:
        cut_off.start(wait=False)
        other.start(wait=False)
        cut_off.wait_ready()
        other.wait_ready()
        token = httpx.post(f"{other.url}{REGISTER}", json=new_account()).json()["token"]
        bystander = httpx.post(f"{other.url}{REGISTER}", json=new_account()).json()["token"]
        auth, still = {"Authorization": f"Bearer {token}"}, {"Authorization": f"Bearer {bystander}"}

        def cache_complete() -> bool:  # loaded from PostgreSQL: "not revoked" answered from Redis alone
            httpx.get(f"{other.url}/api/v1/auth/profile", headers=auth)
            return (
                direct.hget(CACHE_KEY, "~loaded") is not None
                and direct.hget(CACHE_KEY, "~version") is not None
            )

        assert poll_until(cache_complete)
        assert httpx.get(f"{other.url}/api/v1/auth/profile", headers=auth).status_code == 200

        proxy.cut()
        assert httpx.post(f"{cut_off.url}/api/v1/auth/logout", headers=auth).status_code == 204
        assert direct.hget(CACHE_KEY, "~loaded") is not None  # the invalidation did not land either

        def refused_by_the_other() -> bool:
            return httpx.get(f"{other.url}/api/v1/auth/profile", headers=auth).status_code == 401

        assert poll_until(refused_by_the_other, timeout=10.0), "the other replica still accepts the token"
        for _ in range(6):  # on every worker, from now on
            assert httpx.get(f"{other.url}/api/v1/auth/profile", headers=auth).status_code == 401
        assert httpx.get(f"{cut_off.url}/api/v1/auth/profile", headers=auth).status_code == 401
        # caught up, not emptied: other tokens are still answered from a complete cache
        assert httpx.get(f"{other.url}/api/v1/auth/profile", headers=still).status_code == 200
        assert direct.hget(CACHE_KEY, "~loaded") is not None
        assert "neither updated nor invalidated" in cut_off.logs()  # it really was cut off from Redis
    finally:
        direct.close()
        other.terminate()
        cut_off.terminate()
        proxy.stop()


def test_start_up_warns_when_redis_may_evict_the_revocation_cache(
    database_url: str, throwaway_redis: ThrowawayRedis
) -> None:
    import redis

    client = redis.Redis.from_url(throwaway_redis.url)
    client.config_set("maxmemory-policy", "allkeys-lru")
    client.close()
    server = RunningServer(base_env(database_url, throwaway_redis.url, WORKERS="1")).start()
    try:
        assert poll_until(lambda: "maxmemory-policy is allkeys-lru" in server.logs()), server.logs()[-2000:]
    finally:
        server.terminate()
