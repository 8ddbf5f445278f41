"""Users and auth: register, login, logout, profile."""

from __future__ import annotations

from typing import Any

from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse
from sanic_ext import openapi

from halo.api import docs, etags
from halo.api.schemas import LoginRequest, ProfilePatch, RegisterRequest, TokenResponse, UserEnvelope
from halo.api.validation import authenticated, json_body
from halo.http.conditional import conditional
from halo.http.responses import json_response, no_content
from halo.services.auth import AuthService, Session

blueprint = Blueprint("auth", url_prefix="/api/v1/auth")


def _service(request: Request) -> AuthService:
    return request.app.ctx.services.auth


def user_json(user: Any) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "username": user.username,
        "display_name": user.display_name,
        "bio": user.bio,
        "avatar_url": user.avatar_url,
        "is_adult": user.is_adult,
        "adult_mode": user.adult_mode,
        "created_at": user.created_at,
        "updated_at": user.updated_at,
    }


def _session_json(session: Session) -> dict[str, Any]:
    return {
        "token": session.token.token,
        "token_type": "Bearer",
        "expires_in": session.token.expires_in,
        "user": user_json(session.user),
    }


@blueprint.post("/register")
@openapi.definition(
    operation="register",
    summary="Create an account and get a token",
    tag="auth",
    body=docs.body(RegisterRequest),
    response=docs.responses(
        {201: TokenResponse},
        400,
        409,
        422,
        429,
        503,
        notes={
            429: "Retry-After: seconds until this client may register again (REGISTER_MAX_PER_IP an hour)",
            503: "Retry-After: seconds to wait when password hashing is saturated",
        },
    ),
)
@json_body(RegisterRequest)
async def register(request: Request, body: RegisterRequest) -> HTTPResponse:
    session = await _service(request).register(
        email=body.email,
        username=body.username,
        password=body.password,
        display_name=body.display_name,
        is_adult=body.is_adult,
        client=request.ctx.client_key,
    )
    return json_response(_session_json(session), status=201)


@blueprint.post("/login")
@openapi.definition(
    operation="login",
    summary="Exchange email and password for a token",
    description="Unknown email, wrong password and an over-long password get the same 401. "
    "Repeated failures are throttled per account and per IP (429 with Retry-After).",
    tag="auth",
    body=docs.body(LoginRequest),
    response=docs.responses(
        {200: TokenResponse},
        400,
        401,
        422,
        429,
        503,
        notes={
            429: "Retry-After: seconds until this account may be tried again from here",
            503: "Retry-After: seconds to wait when password hashing is saturated",
        },
    ),
)
@json_body(LoginRequest)
async def login(request: Request, body: LoginRequest) -> HTTPResponse:
    session = await _service(request).login(
        email=body.email.lower(), password=body.password, client=request.ctx.client_key
    )
    return json_response(_session_json(session))


@blueprint.post("/logout")
@openapi.definition(
    operation="logout",
    summary="Revoke the presented token until it expires",
    tag="auth",
    response=docs.responses({204: None}, 401),
)
@authenticated
async def logout(request: Request) -> HTTPResponse:
    await _service(request).logout(request.ctx.principal)
    return no_content()


@blueprint.get("/profile")
@openapi.definition(
    operation="get_profile",
    summary="The caller's profile",
    tag="auth",
    parameter=docs.if_none_match(),
    response=docs.responses({200: UserEnvelope, 304: None}, 401),
)
@authenticated
async def profile(request: Request) -> HTTPResponse:
    user = await _service(request).profile(request.ctx.principal)
    return conditional(request, etags.profile(user), lambda: json_response({"user": user_json(user)}))


@blueprint.patch("/profile")
@openapi.definition(
    operation="update_profile",
    summary="Change the caller's profile",
    description="Only the named fields change; `null` clears `bio` and `avatar_url`.",
    tag="auth",
    body=docs.body(ProfilePatch),
    response=docs.responses({200: UserEnvelope}, 400, 401, 403, 422),
)
@authenticated
@json_body(ProfilePatch)
async def update_profile(request: Request, body: ProfilePatch) -> HTTPResponse:
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    user = await _service(request).update_profile(request.ctx.principal, changes)
    return json_response({"user": user_json(user)})
