"""Concurrent logins: the throttle counts before bcrypt, so a burst checks at most the limit's passwords."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from halo.redis.login_throttle import LoginThrottle, MemoryLoginThrottle, RedisLoginThrottle, ThrottleLimits
from halo.redis.registration_limit import MemoryRegistrationLimit
from halo.redis.revocation_cache import MemoryRevocationCache
from halo.repositories.revocations import RevocationRepository
from halo.repositories.users import UserRepository
from halo.security.passwords import PasswordHasher
from halo.security.tokens import TokenCodec
from halo.services.auth import AuthService
from halo.services.errors import Throttled, Unauthorized
from tests.integration.conftest import redis_link, unique

pytestmark = pytest.mark.usefixtures("orm")

LIMITS = ThrottleLimits(window_seconds=60, per_account_ip=5, per_account=8, per_ip=1000)
ATTACKER = "198.51.100.66"
OWNER = "203.0.113.10"


class CountingHasher(PasswordHasher):
    """Counts the passwords actually checked by bcrypt."""

    def __init__(self) -> None:
        super().__init__(4, threads=4)
        self.checked = 0

    async def verify(self, password: str, password_hash: str | None) -> bool:
        self.checked += 1
        return await super().verify(password, password_hash)


@pytest.fixture(params=["memory", "redis"])
async def throttle(request: pytest.FixtureRequest) -> AsyncIterator[LoginThrottle]:
    if request.param == "memory":
        yield MemoryLoginThrottle(LIMITS)
        return
    link = await redis_link(request)
    yield RedisLoginThrottle(link, LIMITS, MemoryLoginThrottle(LIMITS))
    assert link.up
    await link.client.aclose()


def service(throttle: LoginThrottle, hasher: PasswordHasher) -> AuthService:
    return AuthService(
        users=UserRepository(),
        revocations=RevocationRepository(),
        revocation_cache=MemoryRevocationCache(),
        hasher=hasher,
        tokens=TokenCodec("k" * 32, issuer="halo", audience="halo-api", ttl_seconds=600),
        throttle=throttle,
        registrations=MemoryRegistrationLimit(10_000),
    )


async def outcome(auth: AuthService, email: str, password: str, client: str) -> str:
    try:
        await auth.login(email=email, password=password, client=client)
    except Throttled as exc:
        return "429" if exc.retry_after >= 1 else "429 without Retry-After"
    except Unauthorized:
        return "401"
    return "200"


async def test_twenty_concurrent_wrong_guesses_check_at_most_the_limit_of_passwords(
    throttle: LoginThrottle,
) -> None:
    hasher = CountingHasher()
    auth = service(throttle, hasher)
    email = f"{unique()}@example.com"
    await auth.register(
        email=email, username=unique(), password="password1", display_name="V", is_adult=False, client=OWNER
    )
    hasher.checked = 0
    results = await asyncio.gather(*(outcome(auth, email, "wrong-guess", ATTACKER) for _ in range(20)))
    assert hasher.checked <= LIMITS.per_account_ip
    assert results.count("401") == hasher.checked
    assert results.count("429") == 20 - hasher.checked
    # Once throttled, the right password gets the same 429 without being checked.
    assert await outcome(auth, email, "password1", ATTACKER) == "429"
    assert hasher.checked <= LIMITS.per_account_ip


async def test_the_owner_is_not_locked_out_by_an_attack_from_elsewhere(throttle: LoginThrottle) -> None:
    hasher = CountingHasher()
    auth = service(throttle, hasher)
    email = f"{unique()}@example.com"
    await auth.register(
        email=email, username=unique(), password="password1", display_name="V", is_adult=False, client=OWNER
    )
    assert await outcome(auth, email, "password1", OWNER) == "200"  # the owner's known-good source
    attackers = [f"198.51.100.{i}" for i in range(100, 120)]
    results = await asyncio.gather(*(outcome(auth, email, "wrong-guess", ip) for ip in attackers))
    assert results.count("401") <= LIMITS.per_account
    assert await outcome(auth, email, "wrong-guess", "198.51.100.200") == "429"  # a new source waits
    owner = await asyncio.gather(*(outcome(auth, email, "password1", OWNER) for _ in range(3)))
    assert owner == ["200", "200", "200"]


async def test_right_passwords_at_once_are_refunded_and_never_lock_the_owner(throttle: LoginThrottle) -> None:
    auth = service(throttle, CountingHasher())
    email = f"{unique()}@example.com"
    await auth.register(
        email=email, username=unique(), password="password1", display_name="V", is_adult=False, client=OWNER
    )
    for _ in range(3):
        results = await asyncio.gather(
            *(outcome(auth, email, "password1", OWNER) for _ in range(LIMITS.per_account_ip))
        )
        assert results == ["200"] * LIMITS.per_account_ip
