"""Caching and hardening headers: authenticated responses are private and vary by token."""

from __future__ import annotations

from sanic.request import Request
from sanic.response import HTTPResponse


def caching_and_security_headers(request: Request, response: HTTPResponse) -> None:
    response.headers["X-Content-Type-Options"] = "nosniff"
    if "authorization" in request.headers:
        response.headers["Cache-Control"] = "private"
        add_vary(response, "Authorization")


def add_vary(response: HTTPResponse, name: str) -> None:
    current = response.headers.get("Vary")
    if not current:
        response.headers["Vary"] = name
    elif name.lower() not in current.lower():
        response.headers["Vary"] = f"{current}, {name}"
