"""The served OpenAPI 3.1 document, built from the routes' `@operation` declarations and
the pydantic schemas, plus a page to read it at /docs."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from sanic import Blueprint, Sanic
from sanic.request import Request
from sanic.response import HTTPResponse, html

from halo import __version__
from halo.api.operation import operation_of
from halo.api.schemas import ErrorBody
from halo.http.responses import json_response

_PARAM = re.compile(r"<(\w+)(?::(\w+))?>")
_REF = "#/components/schemas/{model}"

DESCRIPTION = """HALO: authentication, video metadata and real-time engagement.

Every non-2xx response has the error envelope `{error, message, details?, request_id}`.
Tokens are HS256 JWTs sent as `Authorization: Bearer <token>`; a bad token is a 401 on
every route, including those where authentication is optional."""

DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>HALO API</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><redoc spec-url="/openapi.json"></redoc>
<script src="https://cdn.redoc.ly/redoc/v2.1.5/bundles/redoc.standalone.js"></script>
</body></html>"""

blueprint = Blueprint("docs")


@blueprint.get("/openapi.json")
async def openapi_json(request: Request) -> HTTPResponse:
    document = request.app.ctx.openapi_document
    return json_response(document)


@blueprint.get("/docs")
async def docs(request: Request) -> HTTPResponse:
    return html(DOCS_PAGE)


def build_document(app: Sanic) -> dict[str, Any]:
    operations: list[tuple[str, str, Any]] = []
    for route in app.router.routes:
        spec = operation_of(route.handler)
        if spec is None:
            continue
        path = "/" + _PARAM.sub(r"{\1}", route.path).lstrip("/")
        for method in sorted(route.methods):
            if method in ("HEAD", "OPTIONS"):
                continue
            operations.append((path, method.lower(), route))

    models: set[type[BaseModel]] = {ErrorBody}
    for _, _, route in operations:
        spec = operation_of(route.handler)
        assert spec is not None
        models.update(m for m in spec.responses.values() if m is not None)
        if spec.body is not None:
            models.add(spec.body)
    inputs = [(m, "validation") for m in sorted(models, key=lambda m: m.__name__)]
    outputs = [(m, "serialization") for m in sorted(models, key=lambda m: m.__name__)]
    refs, definitions = models_json_schema([*inputs, *outputs], ref_template=_REF)  # type: ignore[list-item]

    paths: dict[str, dict[str, Any]] = {}
    for path, method, route in sorted(operations, key=lambda item: (item[0], item[1])):
        spec = operation_of(route.handler)
        assert spec is not None
        entry: dict[str, Any] = {
            "operationId": f"{method}_{route.name.split('.')[-1]}",
            "summary": spec.summary,
            "tags": [spec.tag],
            "parameters": _path_parameters(route.path) + _query_parameters(spec.query),
            "responses": {},
        }
        if spec.description:
            entry["description"] = spec.description
        if spec.auth == "required":
            entry["security"] = [{"bearerAuth": []}]
        elif spec.auth == "optional":
            entry["security"] = [{}, {"bearerAuth": []}]
        else:
            entry["security"] = []
        if spec.body is not None:
            entry["requestBody"] = {
                "required": spec.body_required,
                "content": {"application/json": {"schema": refs[(spec.body, "validation")]}},
            }
        for status, model in sorted(spec.responses.items()):
            response: dict[str, Any] = {"description": _describe(status)}
            if model is not None:
                schema_model = model
                response["content"] = {"application/json": {"schema": refs[(schema_model, "serialization")]}}
            elif status >= 400:
                response["content"] = {"application/json": {"schema": refs[(ErrorBody, "serialization")]}}
            headers = spec.response_headers.get(status)
            if headers:
                response["headers"] = {
                    name: {"description": text, "schema": {"type": "string"}}
                    for name, text in headers.items()
                }
            entry["responses"][str(status)] = response
        entry["responses"]["default"] = {
            "description": "Error envelope (any other status)",
            "content": {"application/json": {"schema": refs[(ErrorBody, "serialization")]}},
        }
        if not entry["parameters"]:
            del entry["parameters"]
        paths.setdefault(path, {})[method] = entry

    return {
        "openapi": "3.1.0",
        "info": {"title": "HALO API", "version": __version__, "description": DESCRIPTION},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": definitions.get("$defs", {}),
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }


def _path_parameters(route_path: str) -> list[dict[str, Any]]:
    parameters = []
    for name, kind in _PARAM.findall(route_path):
        schema: dict[str, Any] = (
            {"type": "integer", "minimum": 1, "maximum": 2**63 - 1} if kind == "int" else {"type": "string"}
        )
        parameters.append({"name": name, "in": "path", "required": True, "schema": schema})
    return parameters


def _query_parameters(model: type[BaseModel] | None) -> list[dict[str, Any]]:
    if model is None:
        return []
    schema = model.model_json_schema()
    required = set(schema.get("required", []))
    parameters = []
    for name, prop in schema.get("properties", {}).items():
        prop = {k: v for k, v in prop.items() if k != "title"}
        description = prop.pop("description", None)
        parameter: dict[str, Any] = {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": prop,
        }
        if description:
            parameter["description"] = description
        parameters.append(parameter)
    return parameters


_DESCRIPTIONS = {
    101: "Switching Protocols: the WebSocket is open",
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    400: "Malformed request (bad JSON, content type, query parameter or cursor)",
    401: "Missing, malformed, expired, revoked or tampered token; wrong credentials",
    403: "Authenticated but not allowed",
    404: "No such resource (or not visible to the caller)",
    409: "Email or username already taken",
    413: "Body over MAX_BODY_BYTES",
    422: "A field breaks a rule",
    426: "Not a WebSocket upgrade (`Upgrade: websocket` required)",
    429: "Rate limited (see Retry-After)",
    503: "A dependency the request needs is down",
}


def _describe(status: int) -> str:
    return _DESCRIPTIONS.get(status, "Response")
