"""CORS from configuration: allowed origins, preflight answered without auth, exposed headers."""

from __future__ import annotations

from sanic.request import Request
from sanic.response import HTTPResponse

from halo.middleware.headers import add_vary

EXPOSED_HEADERS = "X-Request-ID, RateLimit-Limit, RateLimit-Remaining, Retry-After, X-Engagement"
ALLOWED_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
ALLOWED_HEADERS = "Authorization, Content-Type, X-Request-ID"
MAX_AGE = "600"


class Cors:
    def __init__(self, origins: list[str]) -> None:
        self._any = "*" in origins
        self._origins = frozenset(origin.rstrip("/") for origin in origins if origin != "*")
        self.enabled = bool(origins)

    def allowed(self, origin: str | None) -> bool:
        return bool(origin) and (self._any or origin in self._origins)

    def preflight(self, request: Request) -> HTTPResponse | None:
        if request.method != "OPTIONS" or "access-control-request-method" not in request.headers:
            return None
        response = HTTPResponse(status=204)
        origin = request.headers.get("origin")
        if self.allowed(origin):
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Allow-Methods"] = ALLOWED_METHODS
            response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
            response.headers["Access-Control-Max-Age"] = MAX_AGE
        response.headers["Vary"] = "Origin"
        return response

    def headers(self, request: Request, response: HTTPResponse) -> None:
        origin = request.headers.get("origin")
        if not self.enabled or not origin:
            return
        if self.allowed(origin) and "Access-Control-Allow-Origin" not in response.headers:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
        add_vary(response, "Origin")
