"""Tracing: one request, one trace — the server span continuing the caller's `traceparent`,
with the PostgreSQL and Redis calls it made as its children.

The service runs in this process (a real Sanic server on a free port, real
PostgreSQL and Redis) so that the SDK's in-memory exporter can hold the spans.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sanic import Sanic

from halo.app import create_app
from halo.config import Settings
from halo.observability.logging import ContextFilter
from halo.observability.tracing import Tracing
from tests.support.accounts import post_registration
from tests.support.services import free_port

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_SPAN_ID}-01"


@dataclass
class DetailRequest:
    """The request whose trace is checked: a read that touches PostgreSQL and Redis."""

    path: str
    route: str  # the route template the server span is named by
    headers: dict[str, str]


async def profile_request(http: httpx.AsyncClient) -> DetailRequest:
    # GET /api/v1/auth/profile: user lookup in PostgreSQL, revocation check in Redis.
    # When GET /api/v1/videos/{id} exists, create a video here and return its detail request instead.
    _, registered = await post_registration(http)
    assert registered.status_code == 201, registered.text
    token = registered.json()["token"]
    return DetailRequest("/api/v1/auth/profile", "/api/v1/auth/profile", {"Authorization": f"Bearer {token}"})


async def video_detail_request(http: httpx.AsyncClient) -> DetailRequest:
    # GET /api/v1/videos/{id}: metadata from PostgreSQL and engagement from Redis, fetched concurrently.
    profile = await profile_request(http)
    created = await http.post("/api/v1/videos", json={"title": "traced"}, headers=profile.headers)
    assert created.status_code == 201, created.text
    return DetailRequest(f"/api/v1/videos/{created.json()['id']}", "/api/v1/videos/<video_id:int>", {})


DETAIL: Callable[[httpx.AsyncClient], Awaitable[DetailRequest]] = video_detail_request


@dataclass
class TracedService:
    http: httpx.AsyncClient
    spans: InMemorySpanExporter
    tracing: Tracing


@pytest.fixture
async def traced(
    database_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[TracedService]:
    monkeypatch.setattr(Sanic, "test_mode", True)  # more than one app named "halo" in this process
    settings = Settings(
        env="development",
        database_url=database_url,
        redis_url=redis_url,
        bcrypt_rounds=4,
        metrics_port=0,
        otel_traces_sampler="parentbased_always_on",  # every trace that starts here is sampled
    )
    exporter = InMemorySpanExporter()
    app = create_app(settings, span_exporter=exporter)
    port = free_port()
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True)
    assert server is not None
    await server.startup()
    await server.before_start()
    await server.after_start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            yield TracedService(http, exporter, app.ctx.resources.tracing)
    finally:
        await server.before_stop()
        server.close()
        await server.wait_closed()
        await server.after_stop()
        logging.getLogger().handlers[:] = []  # the app configured logging for itself


def _children(spans: list[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    parent_id = parent.get_span_context().span_id
    return [s for s in spans if s.parent is not None and s.parent.span_id == parent_id]


async def test_detail_request_is_one_trace_continuing_the_callers_traceparent(
    traced: TracedService, caplog: pytest.LogCaptureFixture
) -> None:
    detail = await DETAIL(traced.http)
    traced.spans.clear()
    caplog.handler.addFilter(ContextFilter())  # what the service's own log handler adds to each line
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="halo.access"):
        response = await traced.http.get(detail.path, headers={**detail.headers, "traceparent": TRACEPARENT})
    assert response.status_code == 200, response.text

    spans = [s for s in traced.spans.get_finished_spans() if f"{s.context.trace_id:032x}" == TRACE_ID]
    assert spans, traced.spans.get_finished_spans()
    # the pool may open connections in its own background task meanwhile: those are not this request's
    others = [s for s in traced.spans.get_finished_spans() if f"{s.context.trace_id:032x}" != TRACE_ID]
    assert not [s for s in others if s.kind is SpanKind.SERVER], others
    servers = [s for s in spans if s.kind is SpanKind.SERVER]
    assert len(servers) == 1
    server = servers[0]
    assert server.name == f"GET {detail.route}"
    assert server.parent is not None
    assert server.parent.is_remote
    assert f"{server.parent.span_id:016x}" == PARENT_SPAN_ID
    assert server.attributes is not None
    assert server.attributes["http.route"] == detail.route
    assert server.attributes["http.response.status_code"] == 200

    children = _children(spans, server)
    systems = {
        (s.attributes or {}).get("db.system") or (s.attributes or {}).get("db.system.name") for s in children
    }
    assert "postgresql" in systems, [(s.name, s.attributes) for s in children]
    assert "redis" in systems, [(s.name, s.attributes) for s in children]
    assert all(s.kind is SpanKind.CLIENT for s in children)
    assert len(spans) == 1 + len(children)  # nothing else in the trace, nothing orphaned

    access = [r for r in caplog.records if r.name == "halo.access"]
    assert [getattr(r, "trace_id", None) for r in access] == [TRACE_ID]


async def test_without_traceparent_a_request_starts_its_own_trace(traced: TracedService) -> None:
    traced.spans.clear()
    response = await traced.http.get("/api/v1/auth/profile")
    assert response.status_code == 401
    (server,) = [s for s in traced.spans.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert server.parent is None
    assert server.name == "GET /api/v1/auth/profile"
    assert server.attributes is not None
    assert server.attributes["http.response.status_code"] == 401


async def test_probes_and_unknown_routes(traced: TracedService) -> None:
    traced.spans.clear()
    assert (await traced.http.get("/health")).status_code == 200  # queries PostgreSQL and Redis
    assert (await traced.http.get("/api/v1/no/such/thing/42")).status_code == 404
    finished = traced.spans.get_finished_spans()
    # probes are not traced, nor is anything they do; an unknown route is named by its method only
    assert [s.name for s in finished] == ["GET"]
    assert finished[0].attributes is not None
    assert "http.route" not in finished[0].attributes


async def test_start_up_and_background_work_make_no_traces(traced: TracedService) -> None:
    import asyncio

    # the Redis probe runs every second and readiness queries PostgreSQL at start: none of it is a trace
    await asyncio.sleep(2.5)
    assert traced.spans.get_finished_spans() == ()


async def test_a_caller_that_did_not_sample_gets_no_spans_but_keeps_its_trace_id_in_the_logs(
    traced: TracedService, caplog: pytest.LogCaptureFixture
) -> None:
    traced.spans.clear()
    caplog.handler.addFilter(ContextFilter())
    caplog.clear()
    unsampled = f"00-{TRACE_ID}-{PARENT_SPAN_ID}-00"
    with caplog.at_level(logging.INFO, logger="halo.access"):
        response = await traced.http.get("/api/v1/auth/profile", headers={"traceparent": unsampled})
    assert response.status_code == 401
    assert traced.spans.get_finished_spans() == ()  # parent-based sampling follows the caller
    access = [r for r in caplog.records if r.name == "halo.access"]
    assert [getattr(r, "trace_id", None) for r in access] == [TRACE_ID]


async def test_an_unsampled_request_asks_the_sampler_once_and_its_queries_make_no_spans(
    traced: TracedService, monkeypatch: pytest.MonkeyPatch
) -> None:
    profile = await profile_request(traced.http)  # a user lookup in PostgreSQL, a revocation check in Redis
    sampler = traced.tracing.sampler
    asked: list[str] = []
    should_sample = sampler.should_sample

    def counting(*args: Any, **kwargs: Any) -> Any:
        asked.append(args[2] if len(args) > 2 else kwargs["name"])
        return should_sample(*args, **kwargs)

    monkeypatch.setattr(sampler, "should_sample", counting)

    traced.spans.clear()
    unsampled = f"00-{TRACE_ID}-{PARENT_SPAN_ID}-00"
    response = await traced.http.get(profile.path, headers={**profile.headers, "traceparent": unsampled})
    assert response.status_code == 200
    # the server span's decision only: the asyncpg and redis instrumentations were off for this request
    assert asked == [f"GET {profile.route}"]
    assert traced.spans.get_finished_spans() == ()

    asked.clear()
    response = await traced.http.get(profile.path, headers={**profile.headers, "traceparent": TRACEPARENT})
    assert response.status_code == 200
    finished = traced.spans.get_finished_spans()
    assert {s.kind for s in finished} == {SpanKind.SERVER, SpanKind.CLIENT}
    assert len(asked) > len(
        finished
    )  # the server span is decided twice (middleware, then SDK), each child once


async def test_a_request_without_trace_context_is_decided_without_asking_the_sampler(
    traced: TracedService, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A new trace is decided by its id against `root_bound` (what the sampler would say): the
    sampler is not asked for it, and its server span has the trace id its log lines carry."""
    sampler = traced.tracing.sampler
    asked: list[object] = []
    should_sample = sampler.should_sample
    monkeypatch.setattr(sampler, "should_sample", lambda *a, **k: asked.append(a) or should_sample(*a, **k))
    traced.spans.clear()
    caplog.handler.addFilter(ContextFilter())
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="halo.access"):
        response = await traced.http.get("/api/v1/auth/profile")
    assert response.status_code == 401
    (server,) = [s for s in traced.spans.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert len(asked) == 1  # the SDK's own check as it starts the span; the middleware's is the bound
    logged = [getattr(r, "trace_id", None) for r in caplog.records if r.name == "halo.access"]
    assert logged == [format(server.get_span_context().trace_id, "032x")]

    traced.spans.clear()
    asked.clear()
    monkeypatch.setattr(traced.tracing, "root_bound", 0)  # as at ratio 0: every new trace dropped
    response = await traced.http.get("/api/v1/auth/profile")
    assert response.status_code == 401
    assert asked == []
    assert traced.spans.get_finished_spans() == ()
