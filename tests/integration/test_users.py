"""Users in PostgreSQL: unique email, username unique case-insensitively by the database itself."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from halo.config import Settings
from halo.db import database
from halo.db.models import User
from halo.redis.login_throttle import MemoryLoginThrottle, ThrottleLimits
from halo.redis.registration_limit import MemoryRegistrationLimit
from halo.redis.revocation_cache import MemoryRevocationCache
from halo.repositories.errors import UniqueViolation
from halo.repositories.revocations import RevocationRepository
from halo.repositories.users import AuthState, UserRepository
from halo.security.passwords import PasswordHasher
from halo.security.tokens import TokenCodec
from halo.services.auth import AuthService
from halo.services.errors import Conflict, Unauthorized
from tests.integration.conftest import unique

pytestmark = pytest.mark.usefixtures("orm")


def make_user(repo: UserRepository, email: str, username: str):
    return repo.create(email=email, username=username, password_hash="x", display_name="X", is_adult=False)


async def test_email_is_unique() -> None:
    repo = UserRepository()
    email = f"{unique()}@example.com"
    await make_user(repo, email, unique())
    with pytest.raises(UniqueViolation) as info:
        await make_user(repo, email, unique())
    assert info.value.field == "email"


async def test_username_is_unique_ignoring_case_in_the_database() -> None:
    repo = UserRepository()
    name = unique("Name")
    await make_user(repo, f"{unique()}@example.com", name)
    with pytest.raises(UniqueViolation) as info:  # straight to the database, no prior SELECT
        await make_user(repo, f"{unique()}@example.com", name.upper())
    assert info.value.field == "username"


async def test_taken_reports_both_fields() -> None:
    repo = UserRepository()
    email, name = f"{unique()}@example.com", unique("Case")
    await make_user(repo, email, name)
    assert await repo.taken(email=email, username=name.lower()) == {"email", "username"}
    assert await repo.taken(email=f"{unique()}@example.com", username=unique()) == set()


def auth_service(users: UserRepository | None = None) -> AuthService:
    return AuthService(
        users=users or UserRepository(),
        revocations=RevocationRepository(),
        revocation_cache=MemoryRevocationCache(),
        hasher=PasswordHasher(4, threads=4),
        tokens=TokenCodec("k" * 32, issuer="halo", audience="halo-api", ttl_seconds=600),
        throttle=MemoryLoginThrottle(ThrottleLimits()),
        registrations=MemoryRegistrationLimit(10_000),
    )


async def test_concurrent_registrations_of_one_name_one_wins_one_conflicts() -> None:
    service = auth_service()
    name = unique("race")

    async def register(i: int) -> str:
        try:
            await service.register(
                client="192.0.2.1",
                email=f"{unique()}-{i}@example.com",
                username=name if i % 2 else name.upper(),
                password="password1",
                display_name="Racer",
                is_adult=False,
            )
        except Conflict as exc:
            return f"conflict on {exc.details[0].field}"
        return "created"

    for _ in range(5):  # several rounds: the race must never let two through
        name = unique("race")
        outcomes = await asyncio.gather(register(1), register(2))
        assert sorted(outcomes) == ["conflict on username", "created"]


async def test_login_with_unknown_email_and_wrong_password_fail_alike() -> None:
    service = auth_service()
    email = f"{unique()}@example.com"
    await service.register(
        client="192.0.2.1",
        email=email,
        username=unique(),
        password="password1",
        display_name="A",
        is_adult=False,
    )
    with pytest.raises(Unauthorized) as unknown:
        await service.login(email=f"{unique()}@example.com", password="password1", client="192.0.2.1")
    with pytest.raises(Unauthorized) as wrong:
        await service.login(email=email, password="password2", client="192.0.2.1")
    assert unknown.value.message == wrong.value.message
    assert (await service.login(email=email, password="password1", client="192.0.2.1")).user.email == email


async def test_logout_revokes_durably_even_with_an_empty_cache() -> None:
    service = auth_service()
    session = await service.register(
        client="192.0.2.1",
        email=f"{unique()}@example.com",
        username=unique(),
        password="password1",
        display_name="A",
        is_adult=False,
    )
    principal = await service.authenticate(session.token.token)
    await service.logout(principal)
    with pytest.raises(Unauthorized):
        await service.authenticate(session.token.token)
    # a new process: empty cache, the database still knows
    with pytest.raises(Unauthorized) as info:
        await auth_service().authenticate(session.token.token)
    assert info.value.reason == "revoked"


async def test_expired_revocations_are_pruned() -> None:
    import time

    repo = RevocationRepository()
    old, live = unique("old"), unique("live")
    await repo.revoke(old, int(time.time()) - 3600)
    await repo.revoke(live, int(time.time()) + 3600)
    assert await repo.prune() >= 1
    assert not await repo.is_revoked(old)
    assert await repo.is_revoked(live)


async def test_auth_states_answer_for_each_existing_user_and_omit_the_rest() -> None:
    repo = UserRepository()
    plain = await make_user(repo, f"{unique()}@example.com", unique())
    adult = await repo.create(
        email=f"{unique()}@example.com", username=unique(), password_hash="x", display_name="A", is_adult=True
    )
    await repo.update(adult.id, {"adult_mode": True})
    gone = await make_user(repo, f"{unique()}@example.com", unique())
    await User.filter(id=gone.id).delete()

    states = await repo.auth_states([plain.id, adult.id, gone.id, 10**15])
    assert states == {
        plain.id: AuthState(plain.id, is_adult=False, adult_mode=False),
        adult.id: AuthState(adult.id, is_adult=True, adult_mode=True),
    }
    assert await repo.auth_states([]) == {}


class CountingUsers(UserRepository):
    def __init__(self) -> None:
        super().__init__()
        self.state_queries: list[list[int]] = []

    async def auth_states(self, user_ids: list[int]) -> dict[int, AuthState]:
        self.state_queries.append(list(user_ids))
        return await super().auth_states(user_ids)


async def test_authentications_at_once_share_one_state_query_and_each_get_their_own_caller() -> None:
    users = CountingUsers()
    service = auth_service(users)
    sessions = [
        await service.register(
            client="192.0.2.1",
            email=f"{unique()}@example.com",
            username=unique(),
            password="password1",
            display_name="A",
            is_adult=n % 2 == 0,
        )
        for n in range(30)
    ]
    deleted = sessions.pop()
    await User.filter(id=deleted.user.id).delete()

    async def authenticate(token: str) -> object:
        try:
            return await service.authenticate(token)
        except Unauthorized as refused:
            return refused.reason

    results = await asyncio.gather(*(authenticate(s.token.token) for s in [*sessions, deleted]))
    assert len(users.state_queries) == 1
    assert sorted(users.state_queries[0]) == sorted(s.user.id for s in [*sessions, deleted])
    for session, principal in zip(sessions, results, strict=False):
        assert principal.user_id == session.user.id  # type: ignore[attr-defined]
        assert principal.is_adult == session.user.is_adult  # type: ignore[attr-defined]
    assert results[-1] == "unknown_user"  # a deleted user's token stops working, in the same batch


async def test_auth_states_on_sqlite(tmp_path: Path) -> None:
    settings = Settings(env="development", database_url=f"sqlite://{tmp_path}/halo.db", bcrypt_rounds=4)
    await database.close_orm()  # this test's own database instead of the run's
    await database.migrate(settings, report=lambda _: None)
    await database.open_orm(settings)
    repo = UserRepository()
    first = await make_user(repo, f"{unique()}@example.com", unique())
    second = await make_user(repo, f"{unique()}@example.com", unique())
    states = await repo.auth_states([first.id, second.id, 999_999])
    assert set(states) == {first.id, second.id}
    assert states[first.id] == AuthState(first.id, is_adult=False, adult_mode=False)
