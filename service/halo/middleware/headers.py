"""Caching and hardening headers: authenticated responses are private and vary by token;
the API's reading page (/docs) may load only its own assets."""

from __future__ import annotations

from sanic.request import Request
from sanic.response import HTTPResponse

DOCS_PATH = "/docs"
# Redoc's page: its own script and styles (it injects <style> elements), its search in a blob: worker.
DOCS_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)


def caching_and_security_headers(request: Request, response: HTTPResponse) -> None:
    response.headers["X-Content-Type-Options"] = "nosniff"
    path = request.path
    if (path == DOCS_PATH or path.startswith(DOCS_PATH + "/")) and (
        "content-security-policy" not in response.headers
    ):  # whoever serves the page, it gets a policy; a stricter one of the page's own is kept
        response.headers["Content-Security-Policy"] = DOCS_CONTENT_SECURITY_POLICY
    if "authorization" in request.headers:
        response.headers["Cache-Control"] = "private"
        add_vary(response, "Authorization")


def add_vary(response: HTTPResponse, name: str) -> None:
    current = response.headers.get("Vary")
    if not current:
        response.headers["Vary"] = name
    elif name.lower() not in current.lower():
        response.headers["Vary"] = f"{current}, {name}"
