"""Typed errors of the business rules. The HTTP layer maps each to its status and envelope in one place."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class FieldIssue:
    field: str
    issue: str


@dataclass
class ServiceError(Exception):
    message: str
    details: list[FieldIssue] = field(default_factory=list)

    def __str__(self) -> str:
        return self.message


class BadInput(ServiceError):
    """Malformed input: bad query parameter, cursor or body syntax (400)."""


class ValidationFailed(ServiceError):
    """Well-formed input that breaks a field rule (422)."""


@dataclass
class Unauthorized(ServiceError):
    """No acceptable credentials (401). `reason` feeds logs and metrics, never the client."""

    reason: str = "invalid"


class Forbidden(ServiceError):
    """Authenticated, but not allowed (403)."""


class NotFound(ServiceError):
    """No such resource, or one the caller may not see (404)."""


class Conflict(ServiceError):
    """A unique value is already taken, or the same request is still in progress (409)."""


class IdempotencyKeyReused(ValidationFailed):
    """An `Idempotency-Key` already used with a different request body (422)."""


class Unavailable(ServiceError):
    """A dependency the request needs is down (503)."""


@dataclass
class Busy(Unavailable):
    """Saturated (the password-hashing queue is full): try again in `retry_after` seconds (503)."""

    retry_after: int = 1


@dataclass
class Throttled(ServiceError):
    """Too many attempts; try again in `retry_after` seconds (429)."""

    retry_after: int = 1
