"""The `@operation` decorator: one declaration per route gives validation, auth and its OpenAPI entry."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel
from sanic.request import Request
from sanic.response import HTTPResponse

from halo.api.validation import parse_body, parse_query
from halo.services.errors import Unauthorized

Auth = Literal["required", "optional", "none"]
Handler = Callable[..., Awaitable[HTTPResponse | None]]  # None: a WebSocket handler

ATTRIBUTE = "__halo_operation__"


@dataclass(frozen=True)
class Operation:
    summary: str
    tag: str
    responses: dict[int, type[BaseModel] | None]
    body: type[BaseModel] | None = None
    body_required: bool = True
    query: type[BaseModel] | None = None
    auth: Auth = "none"
    description: str | None = None
    response_headers: dict[int, dict[str, str]] = field(default_factory=dict)


def operation(
    summary: str,
    *,
    tag: str,
    responses: dict[int, type[BaseModel] | None],
    body: type[BaseModel] | None = None,
    body_required: bool = True,
    query: type[BaseModel] | None = None,
    auth: Auth = "none",
    description: str | None = None,
    response_headers: dict[int, dict[str, str]] | None = None,
) -> Callable[[Handler], Handler]:
    spec = Operation(
        summary=summary,
        tag=tag,
        responses=responses,
        body=body,
        body_required=body_required,
        query=query,
        auth=auth,
        description=description,
        response_headers=response_headers or {},
    )

    def decorate(handler: Handler) -> Handler:
        if auth != "required" and body is None and query is None:
            # Nothing to check before the handler runs: it is its own route handler.
            setattr(handler, ATTRIBUTE, spec)
            return handler

        @functools.wraps(handler)
        async def wrapper(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse | None:
            if auth == "required" and request.ctx.principal is None:
                raise Unauthorized("authentication required", reason="missing")
            if body is not None and (body_required or request.body):
                kwargs["body"] = parse_body(request, body)
            if query is not None:
                kwargs["query"] = parse_query(request, query)
            return await handler(request, *args, **kwargs)

        setattr(wrapper, ATTRIBUTE, spec)
        return wrapper

    return decorate


def operation_of(handler: Any) -> Operation | None:
    spec = getattr(handler, ATTRIBUTE, None)
    if spec is None and isinstance(handler, functools.partial) and handler.args:
        spec = getattr(handler.args[0], ATTRIBUTE, None)  # a WebSocket route: Sanic wraps the handler
    return spec
