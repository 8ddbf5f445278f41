"""What every repository shares: driver errors translated at the boundary."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

import asyncpg
from tortoise.exceptions import DBConnectionError, IntegrityError

from halo.repositories.errors import DatabaseUnavailable, UniqueViolation

P = ParamSpec("P")
R = TypeVar("R")

_OUTAGE = (
    OSError,
    TimeoutError,
    DBConnectionError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
)


def translate_errors(func: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Turn driver outages into DatabaseUnavailable so callers handle one type."""

    @functools.wraps(func)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await func(*args, **kwargs)
        except _OUTAGE as exc:
            raise DatabaseUnavailable(str(exc) or type(exc).__name__) from exc

    return wrapper


def unique_field(exc: IntegrityError, candidates: tuple[str, ...]) -> UniqueViolation | None:
    """Which unique column an IntegrityError is about (PostgreSQL and SQLite word it differently)."""
    text = str(exc).lower()
    if "unique" not in text and "duplicate" not in text:
        return None
    for name in candidates:
        if name in text:
            return UniqueViolation(name)
    return None
