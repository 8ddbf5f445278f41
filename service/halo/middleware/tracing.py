"""A server span per request, named by route template, continuing the caller's W3C `traceparent`.

There is no official OpenTelemetry instrumentation for Sanic; this is the
small part of one we need. Registered only when tracing is on. The span is
the current span while the request runs, so the asyncpg and redis
instrumentations hang their spans under it, and its trace id goes into
every log line of the request (`trace_id_var`). Probes are not traced, and
nothing they do either.

A request the sampler drops costs as little as we can make it: the sampler
is asked first (about the trace id the span would have), and a dropped
request gets no span at all. A request that brings no trace context (none of
the propagator's headers) is a new trace, which every standard sampler decides
by a ratio of its id: that comparison is made here (`Tracing.root_bound`),
without the sampler's call and without parsing headers that are not there. A
dropped request gets only its trace id for the logs and a context that
switches the asyncpg and redis instrumentations off for it. Under every
standard sampler a child's decision is its server span's (the parent-based
ones follow the parent; the ratio is of the trace id, which the children
share), so no child span is lost that would have been kept.
"""

from __future__ import annotations

from opentelemetry import context, propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from sanic.request import Request
from sanic.response import HTTPResponse

from halo.http.routes import EXEMPT_PATHS, route_template
from halo.observability.logging import trace_id_var
from halo.observability.metrics import normalise_method
from halo.observability.tracing import Tracing, start_with

_QUIET = context.set_value(context._SUPPRESS_INSTRUMENTATION_KEY, True, context.Context())


class ServerSpans:
    def __init__(self) -> None:
        self._tracing: Tracing | None = None

    def use(self, tracing: Tracing) -> None:
        """Set by the worker when its tracer provider starts."""
        self._tracing = tracing

    def start(self, request: Request) -> None:
        ctx = request.ctx
        tracing = self._tracing
        if request.path in EXEMPT_PATHS or tracing is None:
            # A fresh context either way: on a kept-alive connection the previous
            # request's span would otherwise still be current.
            ctx.trace_token = context.attach(_QUIET)
            ctx.span = None
            return
        headers = request.headers
        for header in tracing.propagated:
            if header in headers:
                break
        else:  # no caller's context: a new trace, decided by its id without asking the sampler
            trace_id = tracing.trace_ids.generate_trace_id()
            sampled = tracing.samples_new_trace(trace_id)
            if sampled is False:
                self._drop(ctx, trace_id)
                return
            self._start_span(request, tracing, context.Context(), trace_id, new_trace=True, decided=sampled)
            return
        # Only the caller's headers decide the parent, never what this task last had.
        parent = propagate.extract(headers, context=context.Context())
        caller = trace.get_current_span(parent).get_span_context()
        trace_id = caller.trace_id if caller.is_valid else tracing.trace_ids.generate_trace_id()
        self._start_span(request, tracing, parent, trace_id, new_trace=not caller.is_valid, decided=False)

    @staticmethod
    def _drop(ctx: object, trace_id: int) -> None:
        # No span, and nothing under it: the instrumentations skip their work for this request.
        ctx.span = None  # type: ignore[attr-defined]
        ctx.trace_token = context.attach(_QUIET)  # type: ignore[attr-defined]
        trace_id_var.set(format(trace_id, "032x"))

    def _start_span(
        self,
        request: Request,
        tracing: Tracing,
        parent: context.Context,
        trace_id: int,
        *,
        new_trace: bool,
        decided: bool | None,
    ) -> None:
        """The server span, if the sampler keeps it (asked here unless `decided` already says so)."""
        ctx = request.ctx
        method = normalise_method(request.method)
        route = route_template(request) if request.route is not None else None
        name = f"{method} {route}" if route else method
        if not decided:
            decision = tracing.sampler.should_sample(parent, trace_id, name, SpanKind.SERVER).decision
            if not decision.is_recording():
                self._drop(ctx, trace_id)
                return
        if new_trace:
            start_with(trace_id)  # the span gets the trace id the sampler was asked about
        span = tracing.tracer.start_span(name, context=parent, kind=SpanKind.SERVER)
        start_with(None)  # taken, unless the SDK made no span (a disabled tracer): then for no one
        if span.is_recording():  # the SDK asks the same sampler again: same answer for the standard ones
            attributes: dict[str, str] = {
                "http.request.method": method,
                "url.path": request.path,
                "url.scheme": request.scheme,
                "network.protocol.version": request.version,
            }
            if method != request.method:
                attributes["http.request.method_original"] = request.method
            if route is not None:
                attributes["http.route"] = route
            user_agent = request.headers.get("user-agent")
            if user_agent:
                attributes["user_agent.original"] = user_agent
            span.set_attributes(attributes)
        ctx.span = span
        ctx.trace_token = context.attach(trace.set_span_in_context(span, parent))
        trace_id_var.set(format(span.get_span_context().trace_id, "032x"))

    def finish(self, request: Request, response: HTTPResponse) -> None:
        ctx = request.ctx
        span = getattr(ctx, "span", None)
        if span is not None:
            ctx.span = None
            if span.is_recording():
                status = response.status
                attributes: dict[str, str | int] = {"http.response.status_code": status}
                client_ip = getattr(ctx, "client_ip", None)
                if client_ip:
                    attributes["client.address"] = client_ip
                request_id = getattr(ctx, "request_id", None)
                if request_id:
                    attributes["halo.request_id"] = request_id
                span.set_attributes(attributes)
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR))
                span.end()
        trace_id_var.set(None)
        token = getattr(ctx, "trace_token", None)
        if token is not None:
            ctx.trace_token = None
            context.detach(token)
