"""gzip for responses over 1 KiB when the client accepts it."""

from __future__ import annotations

import zlib

from sanic.request import Request
from sanic.response import HTTPResponse

from halo.middleware.headers import add_vary

MIN_SIZE = 1024
LEVEL = 5  # most of the ratio for a fraction of level 9's CPU


def gzip_response(request: Request, response: HTTPResponse) -> None:
    if "etag" in response.headers:
        # A tagged representation (api/etags.py) may leave encoded whatever this one's size, and
        # its 304 must name the Vary its 200 would (RFC 9110, 15.4.5): both say Accept-Encoding.
        add_vary(response, "Accept-Encoding")
    body = response.body
    if not body or len(body) <= MIN_SIZE or "Content-Encoding" in response.headers:
        return
    add_vary(response, "Accept-Encoding")
    if "gzip" not in request.headers.get("accept-encoding", ""):
        return
    compressor = zlib.compressobj(LEVEL, zlib.DEFLATED, 31)  # wbits 31: gzip container
    response.body = compressor.compress(body) + compressor.flush()
    response.headers["Content-Encoding"] = "gzip"
    response.headers.pop("Content-Length", None)
