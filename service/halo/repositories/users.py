"""Users: the only module that knows the users table."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.functions import Lower

from halo.db.models import User
from halo.repositories.base import translate_errors, unique_field
from halo.repositories.sql import Sql

MAX_EMAIL_LENGTH = 254
PROFILE_FIELDS = (
    "id",
    "email",
    "username",
    "display_name",
    "bio",
    "avatar_url",
    "is_adult",
    "adult_mode",
    "created_at",
    "updated_at",
)


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: int
    email: str
    username: str
    display_name: str
    bio: str | None
    avatar_url: str | None
    is_adult: bool
    adult_mode: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class AuthState:
    """What a request needs to know about its authenticated caller."""

    user_id: int
    is_adult: bool
    adult_mode: bool


class UserRepository:
    def __init__(self, sql: Sql | None = None) -> None:
        self._sql = sql or Sql()

    @translate_errors
    async def create(
        self, *, email: str, username: str, password_hash: str, display_name: str, is_adult: bool
    ) -> UserRecord:
        try:
            user = await User.create(
                email=email,
                username=username,
                password_hash=password_hash,
                display_name=display_name,
                is_adult=is_adult,
                adult_mode=False,
            )
        except IntegrityError as exc:
            violation = unique_field(exc, ("email", "username"))
            if violation is not None:
                raise violation from exc
            raise
        return _record(user)

    @translate_errors
    async def get(self, user_id: int) -> UserRecord | None:
        rows = await User.filter(id=user_id).values(*PROFILE_FIELDS)
        return UserRecord(**rows[0]) if rows else None

    @translate_errors
    async def credentials_by_email(self, email: str) -> tuple[UserRecord, str] | None:
        """The user and their password hash, for login."""
        if len(email) > MAX_EMAIL_LENGTH:  # cannot be stored, so nobody has it
            return None
        rows = await User.filter(email=email).values(*PROFILE_FIELDS, "password_hash")
        if not rows:
            return None
        row = rows[0]
        password_hash = row.pop("password_hash")
        return UserRecord(**row), password_hash

    @translate_errors
    async def auth_states(self, user_ids: list[int]) -> dict[int, AuthState]:
        """The auth state of each of these users that exists, in one query (authenticated
        requests arriving together share it). Plain SQL, no ORM query building."""
        if not user_ids:
            return {}
        condition, ids = self._sql.any_id("id", "$1", user_ids)
        rows = await self._sql.fetch(f"SELECT id, is_adult, adult_mode FROM users WHERE {condition}", ids)  # noqa: S608
        return {
            int(row["id"]): AuthState(int(row["id"]), bool(row["is_adult"]), bool(row["adult_mode"]))
            for row in rows
        }

    @translate_errors
    async def taken(self, *, email: str, username: str) -> set[str]:
        """Which of the two unique values already belong to somebody (username case-insensitively)."""
        taken: set[str] = set()
        if await User.filter(email=email).exists():
            taken.add("email")
        # lower(username) is what the unique index is built on, so this uses it
        if await User.annotate(lowered=Lower("username")).filter(lowered=username.lower()).exists():
            taken.add("username")
        return taken

    @translate_errors
    async def update(self, user_id: int, changes: dict[str, Any]) -> UserRecord | None:
        user = await User.get_or_none(id=user_id)
        if user is None:
            return None
        if changes:
            for name, value in changes.items():
                setattr(user, name, value)
            await user.save(update_fields=[*changes, "updated_at"])
        return _record(user)


def _record(user: User) -> UserRecord:
    return UserRecord(**{name: getattr(user, name) for name in PROFILE_FIELDS})
