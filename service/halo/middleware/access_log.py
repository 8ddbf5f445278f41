"""One structured log line per request (probes and metrics stay out of it).

It is written on every request, so its usual form is put together from
pieces made once: the part that depends only on the method and the route is
kept per (method, route), each client address is escaped once, and the
duration is formatted from an integer. The line is the same JSON as
`write_json_line` makes (tests/unit/test_access_log.py compares them).
Anything unusual (an unknown method, no request id, text logs, a trace id)
takes the general path.
"""

from __future__ import annotations

import logging
import time

import orjson
from sanic.request import Request
from sanic.response import HTTPResponse

from halo.middleware.rate_limit import EXEMPT_PATHS
from halo.observability.logging import json_sink, trace_id_var, utc_timestamp, write_json_line
from halo.observability.metrics import KNOWN_METHODS

log = logging.getLogger("halo.access")
_heads: dict[tuple[str, str | None], tuple[str, str]] = {}  # (method, route) -> the line's fixed parts
_addresses: dict[str, str] = {}  # client address -> the same, quoted for JSON


def route_template(request: Request) -> str:
    """The matched route (`/api/v1/videos/<video_id:int>`), never the raw path."""
    route = request.route
    return "/" + route.path.lstrip("/") if route is not None else "unmatched"


def log_request(request: Request, response: HTTPResponse) -> None:
    if request.path in EXEMPT_PATHS or not log.isEnabledFor(logging.INFO):
        return
    ctx = request.ctx
    started = getattr(ctx, "started", None)
    elapsed = time.perf_counter() - started if started is not None else None
    method, status = request.method, response.status
    client_ip = getattr(ctx, "client_ip", None)
    request_id = getattr(ctx, "request_id", None)  # ours, or the caller's checked against [A-Za-z0-9._:-]
    sink = json_sink(log)
    if sink is not None and request_id is not None and method in KNOWN_METHODS and trace_id_var.get() is None:
        route = request.route
        key = (method, route.path if route is not None else None)
        head = _heads.get(key)
        if head is None:
            head = _heads[key] = _head(method, route_template(request))
        address = "null" if client_ip is None else _address(client_ip)
        if elapsed is None:
            duration = "null"
        else:  # milliseconds with three decimals, from an int (float rounding and repr are slow)
            microseconds = int(elapsed * 1_000_000)
            duration = f"{microseconds // 1000}.{microseconds % 1000:03d}"
        sink(
            f'{{"ts":"{utc_timestamp(time.time())}",{head[0]}{status}","http":{{{head[1]}{status},'
            f'"duration_ms":{duration},"client_ip":{address}}},"request_id":"{request_id}"}}\n'
        )
        return
    duration_ms = round(elapsed * 1000, 3) if elapsed is not None else None
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
                "duration_ms": duration_ms,
                "client_ip": client_ip,
            },
            "request_id": request_id,
        },
    )


def _head(method: str, route: str) -> tuple[str, str]:
    """The parts of the line fixed by the method and the route, each value escaped."""
    message = orjson.dumps(f"{method} {route} ").decode()[:-1]  # open: the status follows
    return (
        f'"level":"info","logger":"halo.access","message":{message}',
        f'"method":{orjson.dumps(method).decode()},"route":{orjson.dumps(route).decode()},"status":',
    )


def _address(client_ip: str) -> str:
    """The address as a JSON string (kept for the clients seen most recently)."""
    quoted = _addresses.get(client_ip)
    if quoted is None:
        if len(_addresses) >= 4096:
            _addresses.clear()
        quoted = _addresses[client_ip] = orjson.dumps(client_ip).decode()
    return quoted
