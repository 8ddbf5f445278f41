"""The served OpenAPI document: valid OpenAPI 3, one operationId per operation, and every route the
service serves documented (but the document itself and the /docs page with its assets)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate
from sanic import Sanic

from halo.app import create_app
from halo.config import Settings

METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}
NOT_DOCUMENTED = {"/openapi.json", "/docs"}


@pytest.fixture
async def document(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def test_the_document_validates_as_openapi_3(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.")
    validate(document)  # raises with the first violation


def test_every_operation_id_is_unique(document: dict[str, Any]) -> None:
    ids = [operation.get("operationId") for _, _, operation in _operations(document)]
    assert all(ids), [(m, p) for m, p, op in _operations(document) if not op.get("operationId")]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


def _served_routes() -> frozenset[tuple[str, str]]:
    """(method, path) of every route the service declares, in the document's path syntax."""
    settings = Settings(
        env="development",
        database_url="sqlite://:memory:",
        bcrypt_rounds=4,
        metrics_port=0,
        cors_origins=["https://app.example"],
    )
    app = create_app(settings)
    Sanic.unregister_app(app)  # its name is free again for any other app this process builds
    served = set()
    for route in app.router.routes:
        if getattr(route.ctx, "asset", False):  # the /docs page's files
            continue
        path = "/" + re.sub(r"<(\w+)(?::[^>]*)?>", r"{\1}", route.path).lstrip("/")
        methods = {"GET"} if route.extra.websocket else set(route.methods)
        served.update((method, path) for method in methods - {"HEAD", "OPTIONS"})
    return frozenset((method, path) for method, path in served if path not in NOT_DOCUMENTED)


def test_every_served_route_is_documented_and_nothing_more(document: dict[str, Any]) -> None:
    documented = {(method, path) for method, path, _ in _operations(document)}
    served = _served_routes()
    assert len(served) > 15, served
    assert served - documented == set(), "served but not in /openapi.json"
    assert documented - served == set(), "in /openapi.json but not served"


def test_register_password_bounds_refuse_nothing_the_service_accepts(document: dict[str, Any]) -> None:
    """The contract counts UTF-8 bytes (8 to 72); JSON Schema counts characters, so the document
    states the loosest character bounds those imply: 8 bytes may be 2 characters, 72 characters
    are at least 72 bytes. (Schemathesis's hook keeps its positive passwords within the bytes.)"""
    password = document["components"]["schemas"]["RegisterRequest"]["properties"]["password"]
    assert password["minLength"] <= 2
    assert password["maxLength"] >= 72
    assert "byte" in password["description"]
