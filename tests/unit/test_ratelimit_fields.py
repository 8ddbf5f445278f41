"""RateLimit-Policy and RateLimit (draft-ietf-httpapi-ratelimit-headers) from a bucket's decision."""

from __future__ import annotations

from types import SimpleNamespace

from sanic.response import HTTPResponse

from halo.middleware.ratelimit_fields import RateLimitFields
from halo.security.token_bucket import Decision


def _fields(rate: float, burst: int, decision: Decision | None) -> dict[str, str]:
    response = HTTPResponse()
    RateLimitFields(rate, burst)(SimpleNamespace(ctx=SimpleNamespace(rate_limit=decision)), response)  # type: ignore[arg-type]
    return {name: value for name, value in response.headers.items() if name.lower().startswith("ratelimit")}


def test_the_policy_is_the_bucket_and_its_refill_time() -> None:
    fields = _fields(1000, 2000, Decision(True, 2000, 1999, 0))
    assert fields == {"RateLimit-Policy": '"default";q=2000;w=2', "RateLimit": '"default";r=1999;t=1'}


def test_a_refused_request_has_nothing_left_until_the_bucket_refills() -> None:
    fields = _fields(2, 10, Decision(False, 10, 0, 1))
    assert fields == {"RateLimit-Policy": '"default";q=10;w=5', "RateLimit": '"default";r=0;t=5'}


def test_a_window_is_whole_seconds() -> None:
    assert _fields(3, 10, Decision(True, 10, 10, 0))["RateLimit-Policy"] == '"default";q=10;w=4'
    assert _fields(1000, 10, Decision(True, 10, 10, 0))["RateLimit"] == '"default";r=10;t=0'


def test_exempt_paths_get_none() -> None:
    assert _fields(1000, 2000, None) == {}
