"""Per-client rate limiting (by `request.ctx.client_key`) with `RateLimit-*` headers.

Probes and metrics are exempt."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sanic.exceptions import SanicException
from sanic.request import Request
from sanic.response import HTTPResponse

from halo.http.routes import EXEMPT_PATHS
from halo.security.shared_buckets import BucketTable, SharedTokenBuckets
from halo.security.token_bucket import Decision, LocalRateLimiter, RateLimiter, TokenBucketLimiter


class RateLimited(SanicException):
    status_code = 429
    quiet = True

    def __init__(self, retry_after: int) -> None:
        super().__init__("too many requests; slow down", headers={"Retry-After": str(retry_after)})
        self.retry_after = retry_after


class RateLimitMiddleware:
    def __init__(self, limiter: RateLimiter) -> None:
        self._limiter = limiter
        # This process's own buckets are asked directly: no coroutine, no await on the hot path.
        self._local: TokenBucketLimiter | SharedTokenBuckets | None = (
            limiter.buckets if isinstance(limiter, LocalRateLimiter) else None
        )
        self.on_limited: list[Callable[[Request], None]] = []  # metrics

    def share(self, table: BucketTable) -> None:
        """Several workers: the instance's buckets (halo.security.shared_buckets) stand in for this
        process's own, those the local backend takes tokens from and the Redis one falls back on."""
        self._limiter.share(table)
        if isinstance(self._limiter, LocalRateLimiter):
            self._local = self._limiter.buckets

    def check(self, request: Request) -> Awaitable[None] | None:
        ctx = request.ctx
        if request.path in EXEMPT_PATHS:
            ctx.rate_limit = None
            return None
        if self._local is not None:
            decision = ctx.rate_limit = self._local.hit(ctx.client_key)
            if not decision.allowed:
                self._refuse(request, decision)
            return None
        return self._check_shared(request)

    async def _check_shared(self, request: Request) -> None:
        decision = request.ctx.rate_limit = await self._limiter.hit(request.ctx.client_key)
        if not decision.allowed:
            self._refuse(request, decision)

    def _refuse(self, request: Request, decision: Decision) -> None:
        for callback in self.on_limited:
            callback(request)
        raise RateLimited(decision.retry_after)

    @staticmethod
    def headers(request: Request, response: HTTPResponse) -> None:
        decision: Decision | None = getattr(request.ctx, "rate_limit", None)
        if decision is None:
            return
        headers = response.headers
        headers["RateLimit-Limit"] = str(decision.limit)
        headers["RateLimit-Remaining"] = str(decision.remaining)
        if not decision.allowed:
            response.headers["Retry-After"] = str(decision.retry_after)
