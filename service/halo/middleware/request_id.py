"""Request id: the caller's own `X-Request-ID` when it is sane, a new UUID otherwise."""

from __future__ import annotations

import re
import time
import uuid

from sanic.request import Request
from sanic.response import HTTPResponse

from halo.observability.logging import request_id_var

HEADER = "X-Request-ID"
_VALID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


async def assign_request_id(request: Request) -> None:
    request.ctx.started = time.perf_counter()
    incoming = request.headers.get(HEADER)
    request_id = incoming if incoming and _VALID.fullmatch(incoming) else uuid.uuid4().hex
    request.ctx.request_id = request_id
    request_id_var.set(request_id)


async def echo_request_id(request: Request, response: HTTPResponse) -> None:
    response.headers[HEADER] = request_id_of(request)


def request_id_of(request: Request) -> str:
    request_id = getattr(request.ctx, "request_id", None)
    if request_id is None:  # an error raised before the request middleware ran
        request_id = uuid.uuid4().hex
        request.ctx.request_id = request_id
    return request_id
