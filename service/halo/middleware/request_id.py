"""Request id: the caller's own `X-Request-ID` when it is sane, a new UUID otherwise."""

from __future__ import annotations

import random
import re
import time

from sanic.request import Request
from sanic.response import HTTPResponse

from halo.observability.logging import request_id_var

HEADER = "X-Request-ID"
_VALID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# Version 4 and RFC 4122 variant bits: a UUID4 as 32 hex digits, without building UUID objects.
_UUID4_CLEAR = ~((0xF << 76) | (0x3 << 62)) & ((1 << 128) - 1)
_UUID4_SET = (0x4 << 76) | (0x2 << 62)


def new_request_id() -> str:
    """A random UUID4 (hex). Request ids need uniqueness, not secrecy: the fast generator will do."""
    return f"{(random.getrandbits(128) & _UUID4_CLEAR) | _UUID4_SET:032x}"


def assign_request_id(request: Request) -> None:
    request.ctx.started = time.perf_counter()
    incoming = request.headers.get(HEADER)
    request_id = incoming if incoming and _VALID.fullmatch(incoming) else new_request_id()
    request.ctx.request_id = request_id
    request_id_var.set(request_id)


def echo_request_id(request: Request, response: HTTPResponse) -> None:
    response.headers[HEADER] = request_id_of(request)


def request_id_of(request: Request) -> str:
    request_id = getattr(request.ctx, "request_id", None)
    if request_id is None:  # an error raised before the request middleware ran
        request_id = new_request_id()
        request.ctx.request_id = request_id
    return request_id
