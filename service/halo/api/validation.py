"""What a route checks before its handler runs: the caller, the JSON body, the query string.

Bodies are validated by sanic-ext (`sanic_ext.validate(json=Model)`) against the pydantic models;
before that, `json_body` checks what the contract says about the body itself: a JSON content type,
a body at all, well-formed JSON (400 each). A field that breaks a model's rule is sanic-ext's
`ValidationError`, which the error handler answers with a 422 naming the fields. Query strings are
parsed here (a bad parameter is a 400 naming it, so it is not sanic-ext's 422).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from sanic.request import Request
from sanic.response import HTTPResponse
from sanic_ext import openapi, validate

from halo.http.field_issues import field_issues
from halo.services.errors import BadInput, FieldIssue, Unauthorized

M = TypeVar("M", bound=BaseModel)
Handler = Callable[..., Awaitable[HTTPResponse | None]]  # None: a WebSocket handler


def authenticated(handler: Handler) -> Handler:
    """The route needs a caller: an anonymous request is a 401 before the handler runs.

    (A request with a bad token never gets here: the middleware refuses it on every route.)"""

    @functools.wraps(handler)
    async def wrapper(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse | None:
        if request.ctx.principal is None:
            raise Unauthorized("authentication required", reason="missing")
        return await handler(request, *args, **kwargs)

    return openapi.secured("bearerAuth")(wrapper)


def optional_authentication(handler: Handler) -> Handler:
    """Anonymous or authenticated callers alike (documentation only: nothing to check here)."""
    return openapi.secured("bearerAuth")(openapi.secured()(handler))


def json_body(model: type[BaseModel], *, optional: bool = False) -> Callable[[Handler], Handler]:
    """The JSON body as `model`, in the handler's `body` argument. `optional`: a request may come
    without a body at all (`body` is then left out); one that has a body is checked like any."""
    validated_by = validate(json=model, strict=True)  # strict: "true" is no bool, 1 no string

    def decorate(handler: Handler) -> Handler:
        validated = validated_by(handler)

        @functools.wraps(handler)
        async def wrapper(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse | None:
            if optional and not request.body:
                return await handler(request, *args, **kwargs)
            request.parsed_json = _parse_json(request)
            return await validated(request, *args, **kwargs)

        return wrapper

    return decorate


def _parse_json(request: Request) -> Any:
    content_type = (request.content_type or "").split(";", 1)[0].strip().lower()
    if content_type != "application/json" and not content_type.endswith("+json"):
        raise BadInput(
            "request body must be JSON (Content-Type: application/json)",
            [FieldIssue("Content-Type", "must be application/json")],
        )
    if not request.body:
        raise BadInput("request body must be a JSON object", [FieldIssue("body", "is empty")])
    try:
        return orjson.loads(request.body)
    except orjson.JSONDecodeError:
        raise BadInput("request body is not valid JSON", [FieldIssue("body", "is not valid JSON")]) from None


def parse_query(request: Request, model: type[M]) -> M:
    """Query parameters validated against `model`; any bad parameter is a 400 naming it."""
    raw: dict[str, Any] = {}
    try:  # `?limit=` is a bad value, not an absent one; invalid UTF-8 is refused, not replaced
        args = request.get_args(keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        raise BadInput(
            "query string is not valid UTF-8", [FieldIssue("query", "is not valid UTF-8")]
        ) from None
    for name in model.model_fields:
        values = args.getlist(name)
        if values:
            raw[name] = values[0]
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise BadInput("invalid query parameter", field_issues(exc)) from None
