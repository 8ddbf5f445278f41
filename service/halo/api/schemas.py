"""Request and response schemas of the auth and operations part of the contract.

Request models validate at the edge (unknown fields and NUL characters are a
422, types are strict). Response models are documentation: handlers build
plain dicts, and the tests check those dicts against these models.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from halo.api.fields import Email, HttpUrl, NoNul, Password, Username

DisplayName = Annotated[str, StringConstraints(min_length=1, max_length=50), NoNul]
Bio = Annotated[str, StringConstraints(max_length=500), NoNul]


class RequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Document(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- requests -------------------------------------------------------------


class RegisterRequest(RequestBody):
    email: Email
    username: Username
    password: Password
    display_name: DisplayName
    is_adult: bool = False


class LoginRequest(RequestBody):
    email: Annotated[str, StringConstraints(max_length=320), NoNul]
    password: Annotated[str, StringConstraints(max_length=1024), NoNul]


class ProfilePatch(RequestBody):
    """Only the named fields change; `null` clears `bio` and `avatar_url`."""

    display_name: DisplayName = None  # type: ignore[assignment]
    bio: Bio | None = None
    avatar_url: HttpUrl | None = None
    adult_mode: bool = None  # type: ignore[assignment]


# --- responses ------------------------------------------------------------


class ErrorDetail(Document):
    field: str
    issue: str


class ErrorBody(Document):
    error: str = Field(description="stable machine-readable code")
    message: str
    details: list[ErrorDetail] | None = None
    request_id: str


class UserOut(Document):
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


class TokenResponse(Document):
    token: str
    token_type: Literal["Bearer"]
    expires_in: int
    user: UserOut


class UserEnvelope(Document):
    user: UserOut


class DependencyCheck(Document):
    status: Literal["ok", "down"]
    latency_ms: float | None


class HealthChecks(Document):
    database: DependencyCheck
    redis: DependencyCheck


class EnvelopeFields(Document):
    """A 503 from a probe also carries the error envelope's fields."""

    error: str | None = None
    message: str | None = None
    request_id: str | None = None


class HealthBody(EnvelopeFields):
    status: Literal["ok", "degraded", "down"]
    checks: HealthChecks
    version: str


class ProbeBody(EnvelopeFields):
    status: Literal["alive", "ready", "starting", "draining"]
