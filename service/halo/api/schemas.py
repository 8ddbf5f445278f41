"""Request and response schemas of the auth and operations part of the contract.

Request models validate at the edge (unknown fields and NUL characters are a
422, types are strict). Response models are documentation: handlers build
plain dicts, and the tests check those dicts against these models.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

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


class ApiRoot(Document):
    service: Literal["halo"]
    version: str
    docs: str
    openapi: str


class ProbeBody(EnvelopeFields):
    status: Literal["alive", "ready", "starting", "draining"]


# --- videos -----------------------------------------------------------------

Title = Annotated[str, StringConstraints(min_length=1, max_length=200), NoNul]
Description = Annotated[str, StringConstraints(max_length=5000), NoNul]
CommentText = Annotated[str, StringConstraints(min_length=1, max_length=2000), NoNul]
ViewerId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{8,64}$")]
SortOrder = Literal["-created_at", "created_at", "-view_count", "view_count", "title", "-trending"]
CommentsPolicy = Literal["open", "approval", "closed"]
IdList = Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]{0,17}(,[1-9][0-9]{0,17}){0,99}$")]
MAX_ID = 2**63 - 1


class VideoCreate(RequestBody):
    title: Title
    description: Description | None = None
    thumbnail_url: HttpUrl | None = None
    stream_url: HttpUrl | None = None
    is_live: bool = False
    is_adult_content: bool = False
    comments_policy: CommentsPolicy = Field(
        "open", description="open: published at once; approval: held for the owner; closed: no new comments"
    )


class VideoPatch(RequestBody):
    """Only the named fields change; `null` clears `description` and `thumbnail_url`."""

    title: Title = None  # type: ignore[assignment]
    description: Description | None = None
    thumbnail_url: HttpUrl | None = None
    stream_url: HttpUrl = None  # type: ignore[assignment]
    is_live: bool = None  # type: ignore[assignment]
    is_adult_content: bool = None  # type: ignore[assignment]
    comments_policy: CommentsPolicy = None  # type: ignore[assignment]


class CommentCreate(RequestBody):
    body: CommentText
    parent_id: int | None = Field(
        None, ge=1, le=MAX_ID, description="a published top-level comment of the same video: this is a reply"
    )


class CommentPatch(RequestBody):
    body: CommentText


class ViewBody(RequestBody):
    viewer_id: Any = Field(
        None,
        description="when anonymous: a client-chosen id, 8-64 of [A-Za-z0-9_-] (422 otherwise); "
        "ignored when authenticated, whatever its form",
    )


class PresenceBody(RequestBody):
    # Checked where the caller is known to be anonymous (services.engagement.viewer_key): a signed-in
    # caller's viewer_id is ignored, whatever its form.
    viewer_id: Any = Field(
        None,
        description="required when anonymous: a client-chosen id, 8-64 of [A-Za-z0-9_-] (422 otherwise); "
        "ignored when authenticated, whatever its form",
    )


class Query(BaseModel):
    """Query parameters arrive as text: lax parsing, but every value is checked."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class VideoListQuery(Query):
    limit: int = Field(20, ge=1, le=100)
    cursor: Annotated[str, StringConstraints(max_length=2048)] | None = None
    sort: SortOrder = "-created_at"
    user_id: int | None = Field(None, ge=1, le=MAX_ID)
    is_live: bool | None = None
    q: Annotated[str, StringConstraints(max_length=200), NoNul] | None = Field(
        None, description="case-insensitive literal substring of the title"
    )
    ids: IdList | None = Field(
        None,
        description="a batch read: 1-100 distinct positive ids, comma-separated, in the order wanted; "
        "alone (no cursor, sort, q, user_id or is_live)",
    )


class CommentListQuery(Query):
    limit: int = Field(20, ge=1, le=100)
    cursor: Annotated[str, StringConstraints(max_length=2048)] | None = None
    status: Literal["published", "held"] = Field(
        "published", description="`held`: the comments awaiting approval (the video's owner only)"
    )


class ReplyListQuery(Query):
    limit: int = Field(20, ge=1, le=100)
    cursor: Annotated[str, StringConstraints(max_length=2048)] | None = None


class PresenceQuery(Query):
    viewer_id: str | None = Field(None, description="as in the body: checked only when anonymous")


# A token in the query: a JWT's characters (other text is a bad query parameter, 400), at most 2048
# (a JWT is ~300), so both forms together stay within the 8 KiB request line.
QueryToken = Annotated[str, StringConstraints(max_length=2048, pattern=r"^[A-Za-z0-9._~+/=-]*$")]


class LiveQuery(Query):
    viewer_id: ViewerId | None = Field(
        None, description="Who this socket counts as when anonymous (a new viewer of its own when absent)."
    )
    access_token: QueryToken | None = Field(
        None, description="The bearer token, for clients that cannot send `Authorization` (browsers)."
    )
    token: QueryToken | None = Field(
        None, description='The same as `access_token`; prefer the subprotocols `["bearer", token]`.'
    )


class ViewerState(Document):
    liked: bool


class VideoOut(Document):
    id: int
    user_id: int
    title: str
    description: str | None
    thumbnail_url: str | None
    stream_url: str | None
    is_live: bool
    is_adult_content: bool
    comments_policy: CommentsPolicy
    view_count: int | None
    like_count: int | None
    comment_count: int | None
    live_viewers: int | None
    viewer: ViewerState | None = Field(description="the caller's own state; null for an anonymous caller")
    created_at: datetime
    updated_at: datetime


class VideoPage(Document):
    items: list[VideoOut]
    next_cursor: str | None


class EngagementOut(Document):
    video_id: int
    view_count: int | None
    like_count: int | None
    comment_count: int | None
    live_viewers: int | None


class ViewCountOut(Document):
    video_id: int
    view_count: int
    counted: bool = Field(description="false when this viewer's view was already counted in the window")


class LikeOut(Document):
    video_id: int
    liked: bool
    like_count: int


class CommentOut(Document):
    id: int
    video_id: int
    user_id: int
    parent_id: int | None
    body: str
    status: Literal["published", "held"]
    reply_count: int
    created_at: datetime
    edited_at: datetime | None


class CommentPage(Document):
    items: list[CommentOut]
    next_cursor: str | None


class PresenceOut(Document):
    video_id: int
    live_viewers: int
