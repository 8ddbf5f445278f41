"""Request id: the caller's own `X-Request-ID` when it is sane, a new UUID otherwise."""

from __future__ import annotations

import re
import time

from sanic.request import Request
from sanic.response import HTTPResponse

from halo.http.request_ids import HEADER, new_request_id, request_id_of
from halo.observability.logging import request_id_var

_VALID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def assign_request_id(request: Request) -> None:
    request.ctx.started = time.perf_counter()
    incoming = request.headers.get(HEADER)
    request_id = incoming if incoming and _VALID.fullmatch(incoming) else new_request_id()
    request.ctx.request_id = request_id
    request_id_var.set(request_id)


def echo_request_id(request: Request, response: HTTPResponse) -> None:
    response.headers[HEADER] = request_id_of(request)
