"""Request ids: read by the middleware that assigns them and by every place that writes an envelope."""

from __future__ import annotations

import random

from sanic.request import Request

HEADER = "X-Request-ID"
# Version 4 and RFC 4122 variant bits: a UUID4 without building UUID objects.
_UUID4_CLEAR = ~((0xF << 76) | (0x3 << 62)) & ((1 << 128) - 1)
_UUID4_SET = (0x4 << 76) | (0x2 << 62)


def new_request_id() -> str:
    """A random UUID4 in its canonical 8-4-4-4-12 form. Request ids need uniqueness, not secrecy:
    the fast generator will do."""
    h = f"{(random.getrandbits(128) & _UUID4_CLEAR) | _UUID4_SET:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def request_id_of(request: Request) -> str:
    request_id = getattr(request.ctx, "request_id", None)
    if request_id is None:  # an error raised before the request middleware ran
        request_id = new_request_id()
        request.ctx.request_id = request_id
    return request_id
