"""JSON responses: orjson, RFC 3339 UTC times, the contract's content type."""

from __future__ import annotations

from typing import Any

import orjson
from sanic.response import HTTPResponse

CONTENT_TYPE = "application/json; charset=utf-8"
_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC


def dumps(data: Any) -> bytes:
    return orjson.dumps(data, option=_OPTIONS)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> HTTPResponse:
    return HTTPResponse(dumps(data), status=status, headers=headers, content_type=CONTENT_TYPE)


def no_content() -> HTTPResponse:
    return HTTPResponse(status=204)
