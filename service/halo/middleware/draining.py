"""While draining, every response closes its connection.

Otherwise a busy keep-alive client keeps a stopping worker serving request
after request, and the worker never gets to flush and exit cleanly.
"""

from __future__ import annotations

from sanic.request import Request
from sanic.response import HTTPResponse


def close_connection_when_draining(request: Request, response: HTTPResponse) -> None:
    if request.app.ctx.state.draining and request.stream is not None:
        request.stream.keep_alive = False  # type: ignore[attr-defined]  # the response says `Connection: close`
