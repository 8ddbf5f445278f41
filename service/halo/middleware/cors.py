"""CORS by sanic-ext's CORS extension, configured from CORS_ORIGINS.

Allowed origins get `Access-Control-Allow-Origin` and the exposed headers; a preflight (OPTIONS
with `Access-Control-Request-Method`) is answered 204 by sanic-ext's automatic OPTIONS routes,
before any handler and without authentication (browsers send no credentials on a preflight).
"""

from __future__ import annotations

from typing import Any

from sanic.request import Request
from sanic.response import HTTPResponse

from halo.middleware.headers import add_vary

EXPOSED_HEADERS = (
    "X-Request-ID",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Policy",
    "RateLimit",
    "Retry-After",
    "X-Engagement",
)
ALLOWED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
ALLOWED_HEADERS = ("Authorization", "Content-Type", "X-Request-ID", "Idempotency-Key", "If-None-Match")
MAX_AGE_SECONDS = 600


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


def vary_on_origin(request: Request, response: HTTPResponse) -> None:
    """A response step: whatever the origin (allowed or not), the answer depends on it.

    sanic-ext says so only when it allows the origin, and replaces any `Vary` there was: this
    step runs after it and keeps every reason (`Accept-Encoding`, `Authorization`)."""
    if "origin" in request.headers:
        add_vary(response, "Origin")
