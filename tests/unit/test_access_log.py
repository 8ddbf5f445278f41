"""The access line: the fast path's form is the same JSON as the general one, whatever the values hold."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from halo.http.fastpath import FastLine
from halo.http.fastpath.access_line import access_line
from halo.http.routes import route_template
from halo.middleware import access_log
from halo.observability.logging import BufferedStreamHandler, configure_logging, trace_id_var, write_json_line


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    configure_logging("INFO", "json")
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, BufferedStreamHandler)
    stream, handler.stream = handler.stream, io.StringIO()
    yield handler.stream
    handler.flush()
    handler.stream = stream


def written(stream: io.StringIO) -> list[dict[str, Any]]:
    logging.getLogger().handlers[0].flush()
    text = stream.getvalue()
    stream.truncate(0)
    stream.seek(0)
    return [json.loads(line) for line in text.splitlines()]


def request(method: str, route: str | None, client_ip: str | None, elapsed: float | None) -> Any:
    ctx = SimpleNamespace(client_ip=client_ip, request_id="5f0c2d7e9b8a4c6d8e1f2a3b4c5d6e7f")
    if elapsed is not None:
        ctx.started = time.perf_counter() - elapsed
    return SimpleNamespace(
        path="/api/v1/videos/7",
        method=method,
        ctx=ctx,
        route=SimpleNamespace(path=route) if route is not None else None,
    )


def general_line(req: Any, status: int, duration_ms: float | None) -> dict[str, object]:
    """What `write_json_line` makes of the same request (the path for anything unusual)."""
    route = route_template(req)
    fields = {
        "http": {
            "method": req.method,
            "route": route,
            "status": status,
            "duration_ms": duration_ms,
            "client_ip": req.ctx.client_ip,
        },
        "request_id": req.ctx.request_id,
    }
    write_json_line(access_log.log, logging.INFO, f"{req.method} {route} {status}", fields)
    return fields


@pytest.mark.parametrize("client_ip", ["127.0.0.1", "2001:db8::1", 'fe80::1%et"h\\0', None])
@pytest.mark.parametrize("route", ["api/v1/videos/<video_id:int>", "/api/v1", None])
@pytest.mark.parametrize("elapsed", [0.0123456, None])
@pytest.mark.parametrize("trace_id", [None, "4bf92f3577b34da6a3ce929d0e0e4736"], ids=["untraced", "traced"])
def test_the_fast_line_is_the_general_line(
    lines: io.StringIO, client_ip: str | None, route: str | None, elapsed: float | None, trace_id: str | None
) -> None:
    req = request("GET", route, client_ip, elapsed)
    token = trace_id_var.set(trace_id)  # tracing on: every request has one, sampled or not
    try:
        access_log.AccessLog(access_line)(req, SimpleNamespace(status=201))
        general_line(req, 201, 12.346 if elapsed is not None else None)
    finally:
        trace_id_var.reset(token)
    fast, general = written(lines)
    assert fast.get("trace_id") == trace_id

    for line in (fast, general):
        line.pop("ts")
    if elapsed is not None:
        assert fast["http"].pop("duration_ms") == pytest.approx(general["http"].pop("duration_ms"), abs=1)
    assert fast == general
    assert fast["message"] == f"GET {route_template(req)} 201"


def test_an_unknown_method_takes_the_general_path_and_a_trace_id_stays_valid_json(
    lines: io.StringIO,
) -> None:
    log_request = access_log.AccessLog(access_line)
    log_request(request('BR"EW', "/api/v1", "10.0.0.1", 0.001), SimpleNamespace(status=405))
    token = trace_id_var.set("4bf92f3577b34da6a3ce929d0e0e4736")
    try:
        log_request(request("GET", "/api/v1", "10.0.0.1", 0.001), SimpleNamespace(status=200))
    finally:
        trace_id_var.reset(token)
    unknown, traced = written(lines)

    assert unknown["http"]["method"] == 'BR"EW'
    assert unknown["message"] == 'BR"EW /api/v1 405'
    assert traced["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert traced["request_id"] == "5f0c2d7e9b8a4c6d8e1f2a3b4c5d6e7f"


@pytest.mark.parametrize("fast_line", [None, access_line], ids=["plain", "fast-path"])
def test_probes_are_not_logged(lines: io.StringIO, fast_line: FastLine | None) -> None:
    req = request("GET", "/health/live", "10.0.0.1", 0.001)
    req.path = "/health/live"
    access_log.AccessLog(fast_line)(req, SimpleNamespace(status=200))
    assert written(lines) == []
