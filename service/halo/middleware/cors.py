"""CORS by sanic-ext's CORS extension, configured from CORS_ORIGINS.

Allowed origins get `Access-Control-Allow-Origin` and the exposed headers; a preflight (OPTIONS
with `Access-Control-Request-Method`) is answered 204 by sanic-ext's automatic OPTIONS routes,
before any handler and without authentication (browsers send no credentials on a preflight).
"""

from __future__ import annotations

from collections import deque
from typing import Any

from sanic import Sanic
from sanic.request import Request
from sanic.response import HTTPResponse
from sanic_ext.config import PRIORITY as SANIC_EXT_PRIORITY
from sanic_ext.extensions.http import cors as sanic_ext_cors

from halo.middleware.headers import add_vary

EXPOSED_HEADERS = (
    "X-Request-ID",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Policy",
    "RateLimit",
    "Retry-After",
    "X-Engagement",
    # v1.1: what a browser app needs to read of the conditional, paging and idempotency answers
    "ETag",
    "Link",
    "Idempotent-Replayed",
)
ALLOWED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
ALLOWED_HEADERS = ("Authorization", "Content-Type", "X-Request-ID", "Idempotency-Key", "If-None-Match")
MAX_AGE_SECONDS = 600
_SANIC_EXT_CORS = sanic_ext_cors.__name__


def extension_config(origins: list[str]) -> dict[str, Any]:
    """sanic-ext's CORS_* settings (and the automatic OPTIONS routes its preflights need)."""
    enabled = bool(origins)
    return {
        "CORS": enabled,
        "HTTP_AUTO_OPTIONS": enabled,
        "CORS_AUTOMATIC_OPTIONS": enabled,
        # sanic-ext reads "*" as a wildcard only on its own, not as one entry of a list
        "CORS_ORIGINS": "*" if "*" in origins else [origin.rstrip("/") for origin in origins],
        "CORS_ALWAYS_SEND": False,  # no Access-Control-Allow-Origin for a request without an Origin
        "CORS_SEND_WILDCARD": False,  # echo the caller's origin, even when any is allowed
        "CORS_EXPOSE_HEADERS": list(EXPOSED_HEADERS),
        "CORS_METHODS": list(ALLOWED_METHODS),
        "CORS_ALLOW_HEADERS": list(ALLOWED_HEADERS),
        "CORS_MAX_AGE": MAX_AGE_SECONDS,
        "CORS_SUPPORTS_CREDENTIALS": False,  # bearer tokens, no cookies
    }


def headers(request: Request, response: HTTPResponse) -> None:
    """A response step: `Vary: Origin` whatever the origin (allowed or not, the answer depends on
    it), and on the hot routes the CORS headers sanic-ext's hook would have added.

    sanic-ext's hook costs every request a few microseconds (a coroutine, its lookups, Sanic's
    middleware signals), about 5% of a trivial route: routes declared with `ctx_lean_cors=True`
    skip it (`keep_hot_routes_lean`) and get the same headers here, from sanic-ext's own settings.
    sanic-ext says `Vary` only when it allows the origin, replacing any there was: this step runs
    after it and keeps every reason (`Accept-Encoding`, `Authorization`)."""
    origin = request.headers.get("origin")
    if origin is None:
        return
    route = request.route
    if route is not None and getattr(route.ctx, "lean_cors", False):
        settings = request.app.ctx.cors
        if any(pattern.match(origin) for pattern in settings.allow_origins):
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Expose-Headers"] = ",".join(settings.expose_headers)
    add_vary(response, "Origin")


def keep_hot_routes_lean(app: Sanic) -> None:
    """Take sanic-ext's CORS hook off the routes declared with `ctx_lean_cors=True` (`headers`
    does their CORS), once Sanic and sanic-ext have settled every route's middleware."""

    def lean(app: Sanic) -> None:
        # sanic-ext's automatic HEAD of a hot route (its own route, calling the GET's handler) is
        # as lean as that GET: the same CORS headers, spelt the same way.
        hot = {route.handler for route in app.router.routes if getattr(route.ctx, "lean_cors", False)}
        for route in app.router.routes:
            if getattr(route.handler, "__route_handler__", None) in hot:
                route.ctx.lean_cors = True
        for route in app.router.routes:
            if getattr(route.ctx, "lean_cors", False):
                route.extra.response_middleware = deque(
                    m for m in route.extra.response_middleware if m.func.__module__ != _SANIC_EXT_CORS
                )

    # after sanic-ext's own before_server_start, which finalizes the routes' middleware again
    app.register_listener(lean, "before_server_start", priority=SANIC_EXT_PRIORITY - 1)
