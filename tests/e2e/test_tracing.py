"""Tracing of the real `halo serve`: spans leave over OTLP/HTTP, and the logs carry the trace id."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from tests.support.accounts import register_now
from tests.support.polling import poll_until
from tests.support.server import RunningServer, base_env
from tests.support.services import free_port

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{TRACE_ID}-b7ad6b7169203331-01"
SERVER, CLIENT = 2, 3  # OTLP span kinds


class Collector:
    """A stand-in OpenTelemetry collector: accepts OTLP/HTTP trace exports and keeps the spans."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = ExportTraceServiceRequest.FromString(body)
                with collector.lock:
                    for resource_spans in request.resource_spans:
                        resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                        for scope_spans in resource_spans.scope_spans:
                            for span in scope_spans.spans:
                                collector.spans.append(
                                    {
                                        "name": span.name,
                                        "kind": span.kind,
                                        "trace_id": span.trace_id.hex(),
                                        "span_id": span.span_id.hex(),
                                        "parent": span.parent_span_id.hex(),
                                        "attributes": {a.key: _value(a.value) for a in span.attributes},
                                        "resource": resource,
                                        "path": self.path,
                                    }
                                )
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def of_trace(self, trace_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [span for span in self.spans if span["trace_id"] == trace_id]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


@pytest.fixture
def collector() -> Iterator[Collector]:
    running = Collector()
    yield running
    running.close()


def test_spans_leave_over_otlp_and_every_log_line_of_the_request_has_its_trace_id(
    database_url: str, redis_url: str, collector: Collector
) -> None:
    env = base_env(
        database_url,
        redis_url,
        WORKERS="2",
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{collector.port}",
        OTEL_SERVICE_NAME="halo-e2e",
        OTEL_BSP_SCHEDULE_DELAY="100",  # milliseconds: export soon after the request
    )
    server = RunningServer(env).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            _, token = register_now(http)
            response = http.get(
                "/api/v1/auth/profile",
                headers={
                    "Authorization": f"Bearer {token}",
                    "traceparent": TRACEPARENT,
                    "X-Request-ID": "traced-1",
                },
            )
            assert response.status_code == 200
        poll_until(
            lambda: {SERVER, CLIENT} <= {span["kind"] for span in collector.of_trace(TRACE_ID)}, timeout=20
        )
        spans = collector.of_trace(TRACE_ID)
        (server_span,) = [span for span in spans if span["kind"] == SERVER]
        assert server_span["name"] == "GET /api/v1/auth/profile"
        assert server_span["parent"] == "b7ad6b7169203331"
        assert server_span["path"] == "/v1/traces"
        assert server_span["resource"]["service.name"] == "halo-e2e"
        assert server_span["attributes"]["http.response.status_code"] == 200
        assert server_span["attributes"]["halo.request_id"] == "traced-1"
        children = [span for span in spans if span["parent"] == server_span["span_id"]]
        systems = {
            span["attributes"].get("db.system") or span["attributes"].get("db.system.name")
            for span in children
        }
        assert {"postgresql", "redis"} <= systems

        # probes are not traced
        with collector.lock:
            assert not [span for span in collector.spans if "/health" in span["name"]]

        def logged() -> list[dict[str, Any]]:
            lines = [json.loads(line) for line in server.logs().splitlines() if line.startswith("{")]
            return [line for line in lines if line.get("request_id") == "traced-1"]

        # log lines reach the file within ~0.2 s (buffered)
        poll_until(lambda: any(line["logger"] == "halo.access" for line in logged()), timeout=10)
        request_lines = logged()
        assert request_lines
        assert {line.get("trace_id") for line in request_lines} == {TRACE_ID}
        (access,) = [line for line in request_lines if line["logger"] == "halo.access"]
        assert access["http"]["route"] == "/api/v1/auth/profile"
        assert access["http"]["status"] == 200
        assert access["http"]["duration_ms"] >= 0
    finally:
        assert server.terminate() == 0


def test_without_an_endpoint_no_tracer_provider_no_instrumentation_no_middleware() -> None:
    script = """
import sys
from halo.app import create_app
from halo.config import Settings
app = create_app(Settings(env="development", database_url="sqlite://:memory:"))
names = [getattr(getattr(m, "func", m), "__qualname__", "") for m in app.request_middleware]
assert not [n for n in names if "ServerSpans" in n], names
# redis-py imports the OpenTelemetry API for its own optional metrics; the tracing SDK stays out
tracing = ("opentelemetry.sdk.trace", "opentelemetry.instrumentation")
loaded = sorted(m for m in sys.modules if m.startswith(tracing))
assert not loaded, loaded
from opentelemetry import trace
assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
print("untraced")
"""
    env = base_env("sqlite://:memory:", None, ENV="development")
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "untraced" in result.stdout


@pytest.mark.parametrize("ratio", ["0", "1.0"])
def test_the_sampling_ratio_decides_which_new_traces_leave_and_a_caller_decides_for_its_own(
    database_url: str, redis_url: str, collector: Collector, ratio: str
) -> None:
    """The default sampler (parent-based ratio) against a real collector: at ratio 0 no new trace
    leaves, at 1.0 every one does; either way an unsampled caller's trace makes no span and a
    sampled caller's does. One worker, so the spans leave in the order they ended: once the
    last request's spans are in, everything before it has been sent too."""
    unsampled_id, marker_id = "1" * 32, "2" * 32
    env = base_env(
        database_url,
        redis_url,
        WORKERS="1",
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{collector.port}",
        OTEL_TRACES_SAMPLER_ARG=ratio,  # OTEL_TRACES_SAMPLER unset: the default
        OTEL_BSP_SCHEDULE_DELAY="100",
    )
    server = RunningServer(env).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            _, token = register_now(http)
            bearer = {"Authorization": f"Bearer {token}"}
            for _ in range(3):  # a user lookup in PostgreSQL, a revocation check in Redis each
                assert http.get("/api/v1/auth/profile", headers=bearer).status_code == 200
            unsampled = f"00-{unsampled_id}-b7ad6b7169203331-00"
            assert (
                http.get("/api/v1/auth/profile", headers={**bearer, "traceparent": unsampled}).status_code
                == 200
            )
            marker = f"00-{marker_id}-b7ad6b7169203331-01"
            assert (
                http.get("/api/v1/auth/profile", headers={**bearer, "traceparent": marker}).status_code == 200
            )
        poll_until(lambda: [s for s in collector.of_trace(marker_id) if s["kind"] == SERVER], timeout=20)
    finally:
        assert server.terminate() == 0
    with collector.lock:
        spans = list(collector.spans)
    marker_spans = [s for s in spans if s["trace_id"] == marker_id]
    assert {s["kind"] for s in marker_spans} == {SERVER, CLIENT}  # the caller sampled: its trace, whole
    assert not [s for s in spans if s["trace_id"] == unsampled_id]  # the caller did not: nothing
    new_traces = [s for s in spans if s["trace_id"] not in (marker_id, unsampled_id)]
    if ratio == "0":
        assert new_traces == []
    else:
        servers = [s for s in new_traces if s["kind"] == SERVER]
        assert sorted(s["name"] for s in servers) == ["GET /api/v1/auth/profile"] * 3 + [
            "POST /api/v1/auth/register"
        ]
        assert len({s["trace_id"] for s in servers}) == 4
        assert [s for s in new_traces if s["kind"] == CLIENT]  # their queries and commands too
