"""HTTP server metrics: duration by method, route template and status, and requests in flight.

Kept small on purpose, it runs on every request: plain functions (Sanic
awaits only what is awaitable, so no coroutine per call), one label child
per (method, route, status) looked up in a dict, `time.perf_counter` from the
request id middleware, no label strings built after the first request of a kind.
"""

from __future__ import annotations

import time
from typing import Any

from sanic.request import Request
from sanic.response import HTTPResponse

from halo.middleware.access_log import route_template
from halo.observability.metrics import KNOWN_METHODS, OTHER_METHOD, Metrics

_Key = tuple[str, str | None, int]


class RequestMetrics:
    def __init__(self, metrics: Metrics) -> None:
        self._duration = metrics.request_duration
        self._active = metrics.active_requests
        self._timers: dict[_Key, Any] = {}

    def started(self, request: Request) -> None:
        # Settled in `finished`: Sanic answers every request whose middleware ran, even
        # one whose client went away (RequestCancelled, through the error handler).
        self._active.inc()
        request.ctx.in_flight = True

    def finished(self, request: Request, response: HTTPResponse) -> None:
        ctx = request.ctx
        if getattr(ctx, "in_flight", False):
            ctx.in_flight = False
            self._active.dec()
        started = getattr(ctx, "started", None)
        if started is None:  # refused before any middleware ran (a response timeout)
            return
        route = request.route
        # Bounded key: known methods, the app's routes, HTTP statuses.
        method = request.method
        if method not in KNOWN_METHODS:
            method = OTHER_METHOD
        key = (method, route.path if route is not None else None, response.status)
        timer = self._timers.get(key)
        if timer is None:
            timer = self._timers[key] = self._duration.labels(
                method, route_template(request), str(response.status)
            )
        timer.observe(time.perf_counter() - started)
