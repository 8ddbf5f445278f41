"""The /docs page may load only what the service itself serves, whoever renders it."""

from __future__ import annotations

from types import SimpleNamespace

from sanic.response import HTTPResponse

from halo.middleware.headers import caching_and_security_headers


def respond(path: str, response: HTTPResponse | None = None) -> HTTPResponse:
    response = response or HTTPResponse("page")
    request = SimpleNamespace(path=path, headers={})
    caching_and_security_headers(request, response)  # type: ignore[arg-type]
    return response


def test_docs_and_its_assets_get_a_policy_of_their_own_origin_only() -> None:
    for path in ("/docs", "/docs/redoc.standalone.js"):
        policy = respond(path).headers["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "script-src 'self'" in policy
        assert "http" not in policy and "*" not in policy  # no CDN, no wildcard


def test_a_pages_own_policy_is_kept() -> None:
    own = HTTPResponse("page", headers={"Content-Security-Policy": "default-src 'none'"})
    assert respond("/docs", own).headers["Content-Security-Policy"] == "default-src 'none'"


def test_other_routes_get_no_policy() -> None:
    assert "Content-Security-Policy" not in respond("/api/v1/videos").headers
    assert "Content-Security-Policy" not in respond("/docsearch").headers
