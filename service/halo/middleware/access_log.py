"""One structured log line per request (probes and metrics stay out of it)."""

from __future__ import annotations

import logging
import time

from sanic.request import Request
from sanic.response import HTTPResponse

from halo.http.fastpath import FastLine
from halo.http.routes import EXEMPT_PATHS, route_template
from halo.observability.logging import json_sink, trace_id_var, write_json_line
from halo.observability.metrics import KNOWN_METHODS

log = logging.getLogger("halo.access")


class AccessLog:
    def __init__(self, fast_line: FastLine | None = None) -> None:
        self._fast_line = fast_line

    def __call__(self, request: Request, response: HTTPResponse) -> None:
        if request.path in EXEMPT_PATHS or not log.isEnabledFor(logging.INFO):
            return
        ctx = request.ctx
        started = getattr(ctx, "started", None)
        elapsed = time.perf_counter() - started if started is not None else None
        method, status = request.method, response.status
        client_ip = getattr(ctx, "client_ip", None)
        request_id = getattr(ctx, "request_id", None)  # ours, or the caller's checked against [A-Za-z0-9._:-]
        if self._fast_line is not None and request_id is not None and method in KNOWN_METHODS:
            sink = json_sink(log)
            if sink is not None:
                route = request.route
                path = route.path if route is not None else None
                sink(
                    self._fast_line(method, path, status, elapsed, client_ip, request_id, trace_id_var.get())
                )
                return
        template = route_template(request)
        write_json_line(
            log,
            logging.INFO,
            f"{method} {template} {status}",
            {
                "http": {
                    "method": method,
                    "route": template,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 3) if elapsed is not None else None,
                    "client_ip": client_ip,
                },
                "request_id": request_id,
            },
        )
