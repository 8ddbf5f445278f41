"""The rate limit in the IETF form (draft-ietf-httpapi-ratelimit-headers): `RateLimit-Policy` and
`RateLimit`, beside `RateLimit-Limit` and `RateLimit-Remaining` (middleware/rate_limit.py).

The token bucket as a quota policy: `q` is the bucket (the burst) and `w` the
seconds an empty bucket takes to refill, so `q/w` is the sustained rate. `r`
is what the bucket holds now and `t` the seconds until it is full again.

    RateLimit-Policy: "default";q=2000;w=2
    RateLimit: "default";r=1999;t=1
"""

from __future__ import annotations

import math

from sanic.request import Request
from sanic.response import HTTPResponse

from halo.security.token_bucket import Decision

POLICY = '"default"'


class RateLimitFields:
    def __init__(self, rate: float, burst: int) -> None:
        self._rate = rate
        self._policy = f"{POLICY};q={burst};w={max(1, math.ceil(burst / rate))}"

    def __call__(self, request: Request, response: HTTPResponse) -> None:
        """A response step: after the rate limit's own (nothing for exempt paths)."""
        decision: Decision | None = getattr(request.ctx, "rate_limit", None)
        if decision is None:
            return
        until_full = math.ceil((decision.limit - decision.remaining) / self._rate)
        headers = response.headers
        headers["RateLimit-Policy"] = self._policy
        headers["RateLimit"] = f"{POLICY};r={decision.remaining};t={max(until_full, decision.retry_after)}"
