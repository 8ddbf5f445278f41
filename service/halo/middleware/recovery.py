"""Recovery: an unexpected exception becomes a 500 envelope for the client and a stack trace in the log."""

from __future__ import annotations

import logging
from collections.abc import Callable

from sanic.request import Request
from sanic.response import HTTPResponse

log = logging.getLogger("halo.crash")


def report_crash(
    request: Request, exception: BaseException, envelope: Callable[..., HTTPResponse]
) -> HTTPResponse:
    route = request.route.path if request.route else "unmatched"
    log.error(
        "unhandled %s on %s %s",
        type(exception).__name__,
        request.method,
        route,
        exc_info=(type(exception), exception, exception.__traceback__),
    )
    return envelope(request, 500, "internal_error", "internal server error")
