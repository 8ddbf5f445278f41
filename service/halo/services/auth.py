"""Accounts and tokens: registration, login, logout, profiles, and who is calling."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from halo.concurrency import ReadCoalescer
from halo.db import replicas
from halo.redis.event_bus import EventBus
from halo.redis.link import StoreUnavailable
from halo.redis.login_throttle import LoginThrottle
from halo.redis.registration_limit import RegistrationLimit
from halo.redis.revocation_cache import RevocationCache
from halo.repositories.errors import DatabaseUnavailable, UniqueViolation
from halo.repositories.revocations import RevocationRepository
from halo.repositories.users import AuthState, UserRecord, UserRepository
from halo.security.passwords import HasherBusy, PasswordHasher, PasswordTooLong
from halo.security.tokens import InvalidToken, IssuedToken, TokenCodec
from halo.services.errors import (
    Busy,
    Conflict,
    FieldIssue,
    Forbidden,
    Throttled,
    Unauthorized,
    ValidationFailed,
)

log = logging.getLogger("halo.auth")

BAD_CREDENTIALS = "invalid email or password"
BUSY_RETRY_SECONDS = 1


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
        registrations: RegistrationLimit,
        events: EventBus | None = None,
    ) -> None:
        self._users = users
        self._revocations = revocations
        self._cache = revocation_cache
        self._hasher = hasher
        self._tokens = tokens
        self._throttle = throttle
        self._registrations = registrations
        self._events = events  # a logout tells every replica, to close the token's live sockets
        self._reload: asyncio.Task[None] | None = None
        # Authenticated requests that arrive together read their callers' state in one query.
        self._states: ReadCoalescer[int, AuthState] = ReadCoalescer(users.auth_states)
        self._known = KnownStates()

    async def register(
        self, *, email: str, username: str, password: str, display_name: str, is_adult: bool, client: str
    ) -> Session:
        """A new account for `client` (the caller's client key), within REGISTER_MAX_PER_IP an hour."""
        wait = await self._registrations.admit(client)
        if wait:
            raise Throttled("too many accounts registered from here; try again later", retry_after=wait)
        try:
            return await self._register(
                email=email,
                username=username,
                password=password,
                display_name=display_name,
                is_adult=is_adult,
            )
        except Exception:  # no account made: it does not count
            await self._registrations.refund(client)
            raise

    async def _register(
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
        except HasherBusy:
            raise _busy() from None
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
        return self._session(user)

    async def login(self, *, email: str, password: str, client: str) -> Session:
        """A token for the right password. The attempt is counted before the password is checked
        (and refunded when it was right), so a burst checks at most the throttle's limit of them."""
        wait = await self._throttle.attempt(email, client)
        if wait:
            raise Throttled("too many failed logins; try again later", retry_after=wait)
        try:
            found = await self._users.credentials_by_email(email)
            user, password_hash = found if found is not None else (None, None)
            # Unknown accounts are checked against a dummy hash: same work, same answer.
            matched = await self._hasher.verify(password, password_hash)
        except HasherBusy:
            await self._throttle.refund(email, client)  # no password was checked
            raise _busy() from None
        except Exception:
            await self._throttle.refund(email, client)
            raise
        if not matched or user is None:
            raise Unauthorized(BAD_CREDENTIALS, reason="bad_credentials")
        await self._throttle.succeeded(email, client)
        return self._session(user)

    def _session(self, user: UserRecord) -> Session:
        self._seen(user)
        return Session(self._tokens.issue(user.id), user)

    def _seen(self, user: UserRecord) -> None:
        """A user just read or written: what an outage would fall back on (`KnownStates`)."""
        self._known.remember(user.id, AuthState(user.id, user.is_adult, user.adult_mode))

    async def logout(self, principal: Principal) -> None:
        await self._revocations.revoke(principal.jti, principal.expires_at)
        # PostgreSQL has it. A cache that could not take it was invalidated (every replica reads
        # PostgreSQL), or failing that gets it from any worker that reaches Redis (`catch_up_revocations`)
        # and is in an epoch that ends at this worker's next good probe.
        with contextlib.suppress(StoreUnavailable):
            await self._cache.add(principal.jti, principal.expires_at)
        if self._events is not None:  # best effort: open sockets also re-check their token
            await self._events.publish({"kind": "revoked", "jti": principal.jti})

    async def authenticate(self, token: str) -> Principal:
        """The caller behind a bearer token, or Unauthorized."""
        try:
            claims = self._tokens.verify(token)
        except InvalidToken as exc:
            raise Unauthorized("invalid or expired token", reason=exc.reason) from None
        state, revoked = await asyncio.gather(
            self._caller_state(claims.user_id), self._is_revoked(claims.jti)
        )
        if revoked:
            raise Unauthorized("invalid or expired token", reason="revoked")
        if state is None:
            raise Unauthorized("invalid or expired token", reason="unknown_user")
        principal = Principal(claims.user_id, claims.jti, claims.expires_at, state.is_adult, state.adult_mode)
        self.calling(principal)
        return principal

    async def _caller_state(self, user_id: int) -> AuthState | None:
        """The caller's state from PostgreSQL; while PostgreSQL cannot be reached, as this worker
        last read it (`KnownStates`), so that a signed-in caller's reads degrade as an anonymous
        caller's do instead of failing."""
        try:
            states = await self._states.read((user_id,))
        except DatabaseUnavailable:
            known = self._known.recall(user_id)
            if known is None:
                raise
            return known
        state = states.get(user_id)
        self._known.remember(user_id, state)
        return state

    @staticmethod
    def calling(principal: Principal | None) -> None:
        """Who the current request runs for, as the data layer sees it: the reads of a caller who
        wrote wait for a replica that has their write, or use the primary (halo.db.replicas)."""
        replicas.caller.set(principal.user_id if principal is not None else None)

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
        self._seen(user)
        return user

    async def prune_revocations(self) -> int:
        removed = await self._revocations.prune()
        with contextlib.suppress(StoreUnavailable):
            await self._cache.prune()
        return removed

    async def catch_up_revocations(self) -> int:
        """Bring the revocation cache up to PostgreSQL's revocation version (run about once a second):
        a logout whose own cache write was lost, on a replica cut off from Redis, reaches it this way."""
        return await self._cache.catch_up(self._revocations.since)

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
            version = await self._revocations.version()  # before the entries: they hold all up to it
            await self._cache.load(self._revocations.active, version=version)
        except Exception as exc:  # best effort: the database answers meanwhile
            log.warning("could not reload the revocation cache: %s", exc)


KNOWN_STATES_MAX = 10_000  # callers a worker remembers (the least recently seen forgotten first)
KNOWN_STATE_SECONDS = 300.0  # how old a remembered state may be to stand in for PostgreSQL's


class KnownStates:
    """Each recent caller's auth state as this worker last read it from PostgreSQL, with when.

    Only an outage reads it (`AuthService._caller_state`): a state changes only by a write to
    PostgreSQL, which the outage stops too, so what a worker read in the last
    KNOWN_STATE_SECONDS is what PostgreSQL would answer, unless it changed in the moments before
    the outage. Revoked tokens are still refused (the revocation check is separate), and a caller
    this worker has not seen lately still gets a 503.
    """

    def __init__(
        self,
        limit: int = KNOWN_STATES_MAX,
        max_age: float = KNOWN_STATE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limit = limit
        self._max_age = max_age
        self._clock = clock
        self._states: dict[int, tuple[AuthState, float]] = {}  # in the order last seen

    def remember(self, user_id: int, state: AuthState | None) -> None:
        """What PostgreSQL answered for `user_id` (None: no such user, forgotten)."""
        states = self._states
        states.pop(user_id, None)
        if state is None:
            return
        states[user_id] = (state, self._clock())
        if len(states) > self._limit:
            del states[next(iter(states))]

    def recall(self, user_id: int) -> AuthState | None:
        """The state remembered for `user_id`, if read within the last `max_age` seconds."""
        known = self._states.get(user_id)
        if known is None or self._clock() - known[1] > self._max_age:
            return None
        return known[0]


def _busy() -> Busy:
    return Busy("too many passwords being checked; try again shortly", retry_after=BUSY_RETRY_SECONDS)


def _conflict(fields: set[str]) -> Conflict:
    names = sorted(fields)
    return Conflict(
        f"{' and '.join(names)} already taken", [FieldIssue(name, "already taken") for name in names]
    )
