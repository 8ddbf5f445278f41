"""Registering an account over HTTP: the one place tests write a registration out."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

REGISTER = "/api/v1/auth/register"
PASSWORD = "password123"


def new_account(prefix: str = "u", **fields: Any) -> dict[str, Any]:
    """A registration body with a unique email and username; `fields` replace or add to it."""
    name = f"{prefix}{uuid.uuid4().hex[:10]}"
    return {
        "email": f"{name}@example.com",
        "username": name,
        "password": PASSWORD,
        "display_name": "Test User",
        **fields,
    }


def register_now(http: httpx.Client, **fields: Any) -> tuple[dict[str, Any], str]:
    """Register (synchronously) and return the body sent and the token (201 asserted)."""
    body = new_account(**fields)
    response = http.post(REGISTER, json=body)
    assert response.status_code == 201, response.text
    return body, response.json()["token"]


async def post_registration(
    http: httpx.AsyncClient, headers: dict[str, str] | None = None, **fields: Any
) -> tuple[dict[str, Any], httpx.Response]:
    """Send a registration and return the body and the response, whatever its status."""
    body = new_account(**fields)
    return body, await http.post(REGISTER, json=body, headers=headers)
