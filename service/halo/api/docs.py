"""The OpenAPI document (/openapi.json) from sanic-ext's openapi extension, and the /docs page.

Routes declare their documentation with sanic-ext's own decorator, `openapi.definition(...)`; the
helpers here turn HALO's pydantic models into what it takes: request and response bodies as
references to `components/schemas` (`body`, `responses`), query models as parameters (`query`).

sanic-ext writes an OpenAPI 3.0.3 document while pydantic writes JSON Schema 2020-12 (OpenAPI
3.1): the schemas are generated in 3.0's dialect (`nullable` rather than a `null` type, a one-value
`enum` rather than `const`), with the models they use hoisted from `$defs` into `components`.

/docs is a Redoc page that loads only what this service serves: Redoc's standalone bundle
(npm `redoc` 2.5.4, `bundles/redoc.standalone.js`, vendored in `static/` with its licences).
"""

from __future__ import annotations

import asyncio
from email.utils import formatdate
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode, JsonSchemaValue
from pydantic_core import core_schema
from sanic import Blueprint, Sanic
from sanic.request import Request
from sanic.response import HTTPResponse
from sanic.response.convenience import validate_file
from sanic_ext import openapi
from sanic_ext.extensions.openapi.builders import OperationStore, SpecificationBuilder
from sanic_ext.extensions.openapi.definitions import Parameter, Reference, RequestBody
from sanic_ext.extensions.openapi.extension import OpenAPIExtension
from sanic_ext.extensions.openapi.types import Schema

from halo import __version__
from halo.api.schemas import MAX_ID, ErrorBody

STATIC = Path(__file__).parent / "static"
BUNDLE = "/docs/redoc.standalone.js"
_REF = "#/components/schemas/{model}"

TITLE = "HALO API"
DESCRIPTION = """HALO: authentication, video metadata and real-time engagement.

Every non-2xx response has the error envelope `{error, message, details?, request_id}`.
Tokens are HS256 JWTs sent as `Authorization: Bearer <token>`; a bad token is a 401 on
every route, including those where authentication is optional."""

# The page's own script and styles only; Redoc injects <style> elements and runs its search in a blob: worker.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; worker-src 'self' blob:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)

OAS_CONFIG: dict[str, Any] = {
    "OAS_URL_PREFIX": "",
    "OAS_URI_TO_JSON": "/openapi.json",
    "OAS_UI_REDOC": False,  # /docs is ours: sanic-ext's page would fetch fonts and its script from CDNs
    "OAS_UI_SWAGGER": False,
    "OAS_UI_DEFAULT": None,
    "OAS_AUTODOC": False,  # docstrings are for readers of the code; the document says what definitions say
}

blueprint = Blueprint("docs")


# The page's files by suffix (mimetypes' tables would cost every worker a third of a megabyte).
_CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",  # RFC 9239
    ".txt": "text/plain; charset=utf-8",
    ".LICENSE": "text/plain; charset=utf-8",
}


def _asset(uri: str, source: Path, name: str) -> None:
    """One of the page's files as a plain GET route: sanic-ext's automatic HEAD then answers it like
    any other GET (a static route answers its own HEAD with neither the body's length and encoding
    nor its Cache-Control). Read from disk when asked for (the system's page cache keeps it), not
    held by every worker: Redoc's bundle is over a megabyte, and the page is seldom read."""
    modified = source.stat().st_mtime
    content_type = _CONTENT_TYPES[source.suffix]
    headers = {"Last-Modified": formatdate(modified, usegmt=True), "Cache-Control": "no-cache"}

    async def serve(request: Request) -> HTTPResponse:
        return await validate_file(request.headers, modified) or HTTPResponse(
            await asyncio.to_thread(source.read_bytes), content_type=content_type, headers=headers
        )

    blueprint.add_route(openapi.exclude()(serve), uri, methods=["GET"], name=name, ctx_asset=True)


_asset(BUNDLE, STATIC / "redoc.standalone.js", "redoc_bundle")
_asset("/docs/redoc.LICENSE", STATIC / "redoc.LICENSE", "redoc_licence")
_asset("/docs/redoc.standalone.js.LICENSE.txt", STATIC / "redoc.standalone.js.LICENSE.txt", "redoc_notices")
_PAGE = (STATIC / "docs.html").read_text().replace("__TITLE__", TITLE).replace("__BUNDLE__", BUNDLE)


class DocsExtension(OpenAPIExtension):
    """sanic-ext's OpenAPI extension, whose page is /docs here rather than an index of its own."""

    name = "docs"

    def label(self) -> str:
        return "/docs"


def install(app: Sanic) -> None:
    """Describe the service in sanic-ext's document once its extension is on (`app.ext`)."""
    spec = app.ext.openapi
    spec.describe(TITLE, version=__version__, description=DESCRIPTION)
    spec.add_security_scheme("bearerAuth", "http", bearer_format="JWT")
    # Sanic wraps a WebSocket handler in a partial: its documentation is the wrapped handler's.
    store = OperationStore()
    for route in app.router.routes:
        handler = route.handler
        if getattr(handler, "is_websocket", False) and handler.args and handler.args[0] in store:
            store[handler] = store[handler.args[0]]


@blueprint.get("/docs")
@openapi.exclude()
async def docs(request: Request) -> HTTPResponse:
    return HTTPResponse(
        _PAGE,
        content_type="text/html; charset=utf-8",
        headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY},
    )


# --- what `openapi.definition(...)` takes ---------------------------------------------------


class OpenApi30Schema(GenerateJsonSchema):
    """Pydantic's JSON schemas in OpenAPI 3.0's dialect, the one sanic-ext's document declares."""

    def nullable_schema(self, schema: core_schema.NullableSchema) -> JsonSchemaValue:
        inner = self.generate_inner(schema["schema"])
        if "$ref" in inner:  # 3.0 ignores the siblings of a $ref
            return {"allOf": [inner], "nullable": True}
        return {**inner, "nullable": True}

    def literal_schema(self, schema: core_schema.LiteralSchema) -> JsonSchemaValue:
        result = super().literal_schema(schema)
        if "const" in result:
            result["enum"] = [result.pop("const")]
        return result

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        result = super().default_schema(schema)
        # A PATCH field that may be left out but not cleared: its `None` is "absent", not a value.
        if "default" in result and result["default"] is None and not result.get("nullable"):
            del result["default"]
        return result


class JsonSchema(Schema):
    """A schema as pydantic wrote it (sanic-ext's `Schema` keeps only the keywords it knows)."""

    def __init__(self, schema: dict[str, Any]) -> None:
        super().__init__(**schema)

    def guard(self, fields: dict[str, Any]) -> dict[str, Any]:
        return fields


def component(model: type[BaseModel], mode: JsonSchemaMode = "validation") -> Reference:
    """`model` in the document's `components/schemas`, with the models it uses; a reference to it."""
    spec = SpecificationBuilder()
    name = model.__name__
    if not spec.has_component("schemas", name):
        schema = model.model_json_schema(ref_template=_REF, schema_generator=OpenApi30Schema, mode=mode)
        for used, definition in schema.pop("$defs", {}).items():
            spec.add_component("schemas", used, definition)
        spec.add_component("schemas", name, schema)
    return Reference(_REF.format(model=name))


def body(model: type[BaseModel], *, required: bool = True) -> RequestBody:
    """A JSON request body (validated by `halo.api.validation.json_body` with the same model)."""
    return RequestBody({"application/json": component(model)}, required=required)


def query(model: type[BaseModel]) -> list[dict[str, Any] | Parameter | str]:
    """A query model's fields as query parameters (parsed by `halo.api.validation.parse_query`)."""
    schema = model.model_json_schema(ref_template=_REF, schema_generator=OpenApi30Schema)
    required = set(schema.get("required", ()))
    parameters: list[dict[str, Any] | Parameter | str] = []  # what `openapi.definition` takes
    for name, field in schema["properties"].items():
        field = {k: v for k, v in field.items() if k not in ("title", "description", "nullable")}
        if "default" in field and field["default"] is None:  # absent, never a null
            del field["default"]
        parameters.append(
            Parameter(
                name,
                JsonSchema(field),
                "query",
                required=name in required,
                description=schema["properties"][name].get("description"),
            )
        )
    return parameters


def path_id(name: str) -> Parameter:
    """An id in the path: a positive 64-bit integer (anything else is a 404)."""
    return Parameter(
        name,
        JsonSchema({"type": "integer", "format": "int64", "minimum": 1, "maximum": MAX_ID}),
        "path",
        required=True,
    )


def if_none_match() -> Parameter:
    """`If-None-Match` on a GET whose 200 carries an `ETag`."""
    return Parameter(
        "If-None-Match",
        JsonSchema({"type": "string"}),
        "header",
        description="tags from earlier `ETag`s (or `*`): a match by weak comparison is a 304 without a body",
    )


def idempotency_key() -> Parameter:
    """`Idempotency-Key` on a create route."""
    return Parameter(
        "Idempotency-Key",
        JsonSchema({"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[ -~]+$"}),
        "header",
        description="1-255 printable ASCII characters: a repeat from the same caller with the same body "
        "within 24 hours gets the first answer again (`Idempotent-Replayed: true`); another body is a 422 "
        "`idempotency_key_reused`, a repeat while the first is in progress a 409",
    )


_DESCRIPTIONS = {
    101: "Switching Protocols: the WebSocket is open",
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    304: "Not Modified: `If-None-Match` matched the current `ETag` (sent again, no body)",
    400: "Malformed request (bad JSON, content type, query parameter or cursor)",
    401: "Missing, malformed, expired, revoked or tampered token; wrong credentials",
    403: "Authenticated but not allowed",
    404: "No such resource (or not visible to the caller)",
    409: "Email or username already taken; a request with the same Idempotency-Key still in progress",
    413: "Body over MAX_BODY_BYTES",
    422: "A field breaks a rule; `idempotency_key_reused`: an Idempotency-Key already used with another body",
    426: "Not a WebSocket upgrade (`Upgrade: websocket` required)",
    429: "Rate limited (see Retry-After)",
    503: "A dependency the request needs is down",
}


def responses(
    success: dict[int, type[BaseModel] | None], *errors: int, notes: dict[int, str] | None = None
) -> list[dict[str, Any]]:
    """The documented answers: `success` with their bodies (None: no body), `errors` with the
    envelope, and the envelope as the default for any other status. `notes` add to a description."""
    notes = notes or {}
    envelope = {"application/json": component(ErrorBody, "serialization")}
    answers: list[dict[str, Any]] = []
    for status, model in success.items():
        content = {"application/json": component(model, "serialization")} if model is not None else {}
        answers.append({"status": status, "description": _describe(status, notes), "content": content})
    for status in errors:
        answers.append({"status": status, "description": _describe(status, notes), "content": envelope})
    answers.append(
        {"status": "default", "description": "Error envelope (any other status)", "content": envelope}
    )
    return answers


def _describe(status: int, notes: dict[int, str]) -> str:
    text = _DESCRIPTIONS.get(status, "Response")
    return f"{text}. {notes[status]}" if status in notes else text
