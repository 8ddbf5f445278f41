"""Per-client-IP rate limiting with `RateLimit-*` headers (probes and metrics are exempt)."""

from __future__ import annotations

from sanic.exceptions import SanicException
from sanic.request import Request
from sanic.response import HTTPResponse

from halo.security.rate_limit import Decision, RateLimiter

EXEMPT_PATHS = frozenset({"/health", "/health/live", "/health/ready", "/metrics"})


class RateLimited(SanicException):
    status_code = 429
    quiet = True

    def __init__(self, retry_after: int) -> None:
        super().__init__("too many requests; slow down", headers={"Retry-After": str(retry_after)})
        self.retry_after = retry_after


class RateLimitMiddleware:
    def __init__(self, limiter: RateLimiter) -> None:
        self._limiter = limiter
        self.on_limited: list = []  # callbacks(request) for metrics

    async def check(self, request: Request) -> None:
        if request.path in EXEMPT_PATHS:
            request.ctx.rate_limit = None
            return
        decision = await self._limiter.hit(request.ctx.client_ip)
        request.ctx.rate_limit = decision
        if not decision.allowed:
            for callback in self.on_limited:
                callback(request)
            raise RateLimited(decision.retry_after)

    @staticmethod
    async def headers(request: Request, response: HTTPResponse) -> None:
        decision: Decision | None = getattr(request.ctx, "rate_limit", None)
        if decision is None:
            return
        response.headers["RateLimit-Limit"] = str(decision.limit)
        response.headers["RateLimit-Remaining"] = str(decision.remaining)
        if not decision.allowed:
            response.headers["Retry-After"] = str(decision.retry_after)
