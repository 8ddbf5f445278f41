"""One structured log line per request (probes and metrics stay out of it)."""

from __future__ import annotations

import logging
import time

from sanic.request import Request
from sanic.response import HTTPResponse

from halo.middleware.rate_limit import EXEMPT_PATHS
from halo.observability.logging import write_json_line

log = logging.getLogger("halo.access")


def route_template(request: Request) -> str:
    """The matched route (`/api/v1/videos/<video_id:int>`), never the raw path."""
    route = request.route
    return "/" + route.path.lstrip("/") if route is not None else "unmatched"


def log_request(request: Request, response: HTTPResponse) -> None:
    if request.path in EXEMPT_PATHS or not log.isEnabledFor(logging.INFO):
        return
    started = getattr(request.ctx, "started", None)
    duration_ms = round((time.perf_counter() - started) * 1000, 3) if started is not None else None
    route = route_template(request)
    write_json_line(
        log,
        logging.INFO,
        f"{request.method} {route} {response.status}",
        {
            "http": {
                "method": request.method,
                "route": route,
                "status": response.status,
                "duration_ms": duration_ms,
                "client_ip": getattr(request.ctx, "client_ip", None),
            },
            "request_id": getattr(request.ctx, "request_id", None),
        },
    )
