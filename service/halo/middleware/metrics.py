"""HTTP server metrics: duration by method, route template and status, and requests in flight.

Plainly, each request observes the histogram. With the fast path, a request only counts in
memory (a per-(method, route, status) array of bucket counts, the in-flight number a plain int)
and `publish()`, every `PUBLISH_SECONDS` and at shutdown, moves the counts into the metric
files: a scrape then sees them at most `PUBLISH_SECONDS` late.
"""

from __future__ import annotations

import bisect
import time
from typing import Any

from sanic.request import Request
from sanic.response import HTTPResponse

from halo.http.fastpath import BatchWriter
from halo.http.routes import route_template
from halo.observability.metrics import DURATION_BUCKETS, KNOWN_METHODS, OTHER_METHOD, Metrics

PUBLISH_SECONDS = 0.5
_Key = tuple[str, str | None, int]


class RequestMetrics:
    def __init__(self, metrics: Metrics, batch_writer: BatchWriter | None = None) -> None:
        self._duration = metrics.request_duration
        self._active = metrics.active_requests
        self._write_batch = batch_writer
        self._bounds = list(DURATION_BUCKETS)
        self._children: dict[_Key, Any] = {}
        self._labels: dict[_Key, tuple[str, str, str]] = {}
        self._pending: dict[_Key, list[float]] = {}  # bucket counts (+Inf last), then the sum
        self._in_flight = 0
        self._published_in_flight = -1  # publish 0 once, so that the gauge exists

    def started(self, request: Request) -> None:
        # Settled in `finished`: Sanic answers every request whose middleware ran, even
        # one whose client went away (RequestCancelled, through the error handler).
        self._in_flight += 1
        request.ctx.in_flight = True
        if self._write_batch is None:
            self._active.set(self._in_flight)

    def finished(self, request: Request, response: HTTPResponse) -> None:
        ctx = request.ctx
        if getattr(ctx, "in_flight", False):
            ctx.in_flight = False
            self._in_flight -= 1
            if self._write_batch is None:
                self._active.set(self._in_flight)
        started = getattr(ctx, "started", None)
        if started is None:  # refused before any middleware ran (a response timeout)
            return
        route = request.route
        # Bounded key: known methods, the app's routes, HTTP statuses.
        method = request.method
        if method not in KNOWN_METHODS:
            method = OTHER_METHOD
        key = (method, route.path if route is not None else None, response.status)
        seconds = time.perf_counter() - started
        if key not in self._labels:
            self._labels[key] = (method, route_template(request), str(response.status))
        if self._write_batch is None:
            self._child(key).observe(seconds)
            return
        pending = self._pending.get(key)
        if pending is None:
            pending = self._pending[key] = [0.0] * (len(self._bounds) + 2)
        pending[bisect.bisect_left(self._bounds, seconds)] += 1
        pending[-1] += seconds

    def publish(self) -> None:
        """Move what was counted since the last call into the shared metric files."""
        if self._in_flight != self._published_in_flight:
            self._active.set(self._in_flight)
            self._published_in_flight = self._in_flight
        pending, self._pending = self._pending, {}
        if self._write_batch is None:
            return
        for key, counts in pending.items():
            self._write_batch(self._child(key), counts)

    def _child(self, key: _Key) -> Any:
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self._duration.labels(*self._labels[key])
        return child
