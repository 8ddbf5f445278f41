"""Accounts and tokens: registration, login, logout, profiles, and who is calling."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from halo.concurrency import ReadCoalescer
from halo.redis.link import StoreUnavailable
from halo.redis.login_throttle import LoginThrottle
from halo.redis.revocation_cache import RevocationCache
from halo.repositories.errors import UniqueViolation
from halo.repositories.revocations import RevocationRepository
from halo.repositories.users import AuthState, UserRecord, UserRepository
from halo.security.passwords import PasswordHasher, PasswordTooLong
from halo.security.tokens import InvalidToken, IssuedToken, TokenCodec
from halo.services.errors import Conflict, FieldIssue, Forbidden, Throttled, Unauthorized, ValidationFailed

log = logging.getLogger("halo.auth")

BAD_CREDENTIALS = "invalid email or password"


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of one request."""

    user_id: int
    jti: str
    expires_at: int
    is_adult: bool
    adult_mode: bool

    @property
    def sees_adult_content(self) -> bool:
        return self.is_adult and self.adult_mode


@dataclass(frozen=True, slots=True)
class Session:
    token: IssuedToken
    user: UserRecord


class AuthService:
    def __init__(
        self,
        *,
        users: UserRepository,
        revocations: RevocationRepository,
        revocation_cache: RevocationCache,
        hasher: PasswordHasher,
        tokens: TokenCodec,
        throttle: LoginThrottle,
    ) -> None:
        self._users = users
        self._revocations = revocations
        self._cache = revocation_cache
        self._hasher = hasher
        self._tokens = tokens
        self._throttle = throttle
        self._reload: asyncio.Task[None] | None = None
        # Authenticated requests that arrive together read their callers' state in one query.
        self._states: ReadCoalescer[int, AuthState] = ReadCoalescer(users.auth_states)

    async def register(
        self, *, email: str, username: str, password: str, display_name: str, is_adult: bool
    ) -> Session:
        taken = await self._users.taken(email=email, username=username)
        if taken:
            raise _conflict(taken)
        try:
            password_hash = await self._hasher.hash(password)
        except PasswordTooLong:
            raise ValidationFailed(
                "request body failed validation", [FieldIssue("password", "must be at most 72 bytes")]
            ) from None
        try:
            user = await self._users.create(
                email=email,
                username=username,
                password_hash=password_hash,
                display_name=display_name,
                is_adult=is_adult,
            )
        except UniqueViolation as exc:  # lost a race with a concurrent registration
            raise _conflict({exc.field}) from None
        return Session(self._tokens.issue(user.id), user)

    async def login(self, *, email: str, password: str, client_ip: str) -> Session:
        wait = await self._throttle.retry_after(email, client_ip)
        if wait:
            raise Throttled("too many failed logins; try again later", retry_after=wait)
        found = await self._users.credentials_by_email(email)
        user, password_hash = found if found is not None else (None, None)
        # Unknown accounts are checked against a dummy hash: same work, same answer.
        if not await self._hasher.verify(password, password_hash) or user is None:
            await self._throttle.failed(email, client_ip)
            raise Unauthorized(BAD_CREDENTIALS, reason="bad_credentials")
        await self._throttle.succeeded(email, client_ip)
        return Session(self._tokens.issue(user.id), user)

    async def logout(self, principal: Principal) -> None:
        await self._revocations.revoke(principal.jti, principal.expires_at)
        # PostgreSQL has it; if Redis is down the cache is rebuilt from there when it is back
        with contextlib.suppress(StoreUnavailable):
            await self._cache.add(principal.jti, principal.expires_at)

    async def authenticate(self, token: str) -> Principal:
        """The caller behind a bearer token, or Unauthorized."""
        try:
            claims = self._tokens.verify(token)
        except InvalidToken as exc:
            raise Unauthorized("invalid or expired token", reason=exc.reason) from None
        states, revoked = await asyncio.gather(
            self._states.read((claims.user_id,)), self._is_revoked(claims.jti)
        )
        state = states.get(claims.user_id)
        if revoked:
            raise Unauthorized("invalid or expired token", reason="revoked")
        if state is None:
            raise Unauthorized("invalid or expired token", reason="unknown_user")
        return Principal(claims.user_id, claims.jti, claims.expires_at, state.is_adult, state.adult_mode)

    async def profile(self, principal: Principal) -> UserRecord:
        user = await self._users.get(principal.user_id)
        if user is None:
            raise Unauthorized("invalid or expired token", reason="unknown_user")
        return user

    async def update_profile(self, principal: Principal, changes: dict[str, Any]) -> UserRecord:
        if changes.get("adult_mode") and not principal.is_adult:
            raise Forbidden("adult mode is only available to adult accounts")
        user = await self._users.update(principal.user_id, changes)
        if user is None:
            raise Unauthorized("invalid or expired token", reason="unknown_user")
        return user

    async def prune_revocations(self) -> int:
        return await self._revocations.prune()

    async def _is_revoked(self, jti: str) -> bool:
        try:
            cached = await self._cache.check(jti)
        except StoreUnavailable:
            cached = None
        if cached is not None:
            return cached
        revoked = await self._revocations.is_revoked(jti)
        self._schedule_reload()
        return revoked

    def _schedule_reload(self) -> None:
        if self._reload is None or self._reload.done():
            self._reload = asyncio.create_task(self._reload_cache())

    async def _reload_cache(self) -> None:
        try:
            await self._cache.load(await self._revocations.active())
        except Exception as exc:  # best effort: the database answers meanwhile
            log.warning("could not reload the revocation cache: %s", exc)


def _conflict(fields: set[str]) -> Conflict:
    names = sorted(fields)
    return Conflict(
        f"{' and '.join(names)} already taken", [FieldIssue(name, "already taken") for name in names]
    )
