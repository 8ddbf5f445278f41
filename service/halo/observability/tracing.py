"""OpenTelemetry tracing: on only when an OTLP endpoint is configured, per worker.

`start_tracing` builds a tracer provider from the standard variables
(`OTEL_SERVICE_NAME`, `OTEL_TRACES_SAMPLER[_ARG]`, and the OTLP exporter's
own `OTEL_EXPORTER_OTLP_*`), exports in batches over OTLP/HTTP, and turns on
the official asyncpg and redis instrumentations so that queries and
commands become child spans of the request's server span.

Sampling is parent-based ratio by default (`parentbased_traceidratio`, ratio
0.1): a caller's decision is followed, and a tenth of the requests that come
without one start a trace. The server-span middleware asks the sampler before
it starts a span (`DrawnTraceIds`), so that a request the sampler drops costs
a sampling decision and no span at all.

With no endpoint nothing here is imported or run: no provider, no
instrumentation, no middleware (the app factory checks `Settings.tracing_enabled`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Coroutine
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from halo import __version__
from halo.config import Settings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.sdk.trace.id_generator import IdGenerator
    from opentelemetry.sdk.trace.sampling import Sampler
    from opentelemetry.trace import Tracer

log = logging.getLogger("halo.tracing")

T = TypeVar("T")


_drawn: ContextVar[int | None] = ContextVar("halo_drawn_trace_id", default=None)


def trace_id_generator() -> IdGenerator:
    """The SDK's random ids, except that a trace id can be drawn ahead of its span.

    The server-span middleware draws the id of a new trace, asks the sampler about it, and only for
    a sampled request starts the span, which must then get that same id (`start_with`): a dropped
    request then costs a decision instead of a span (the SDK's `start_span` takes some 10 µs even
    for a span it drops). The id travels in a context variable, so that another thread starting
    a root span meanwhile cannot take it.
    """
    from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

    class DrawnTraceIds(RandomIdGenerator):
        def generate_trace_id(self) -> int:
            drawn = _drawn.get()
            if drawn is None:
                return super().generate_trace_id()
            _drawn.set(None)
            return drawn

    return DrawnTraceIds()


def start_with(trace_id: int | None) -> None:
    """The next root span started in this context gets `trace_id` (drawn by `Tracing.trace_ids`);
    None forgets an id no span took."""
    _drawn.set(trace_id)


TRACE_ID_LOW_BITS = (1 << 64) - 1  # what the ratio samplers look at (the W3C random part)


@dataclass
class Tracing:
    provider: TracerProvider
    tracer: Tracer
    _instrumentors: list[Any] = field(default_factory=list)
    # The sampler's decision for a new trace (no caller's context), when it is a ratio of the trace
    # id: sampled when `trace_id & TRACE_ID_LOW_BITS < root_bound`. None: ask the sampler.
    root_bound: int | None = None
    propagated: tuple[str, ...] = ()  # the headers the propagator reads (a caller's context)

    def samples_new_trace(self, trace_id: int) -> bool | None:
        """The decision for a request that brings no context (None: the sampler must be asked)."""
        bound = self.root_bound
        return None if bound is None else (trace_id & TRACE_ID_LOW_BITS) < bound

    @property
    def sampler(self) -> Sampler:
        return self.provider.sampler

    @property
    def trace_ids(self) -> IdGenerator:
        return self.provider.id_generator

    def shutdown(self) -> None:
        """Stop instrumenting and export what is still queued (bounded by the exporter's timeout)."""
        for instrumentor in self._instrumentors:
            instrumentor.uninstrument()
        self._instrumentors.clear()
        self.provider.shutdown()


def sampler_from(settings: Settings) -> Sampler:
    """The standard sampler named by OTEL_TRACES_SAMPLER; OTEL_TRACES_SAMPLER_ARG is the ratio of the
    `*traceidratio` ones (ignored by the others, as the specification says)."""
    from opentelemetry.sdk.trace import sampling

    ratio = settings.otel_traces_sampler_arg
    return {
        "always_on": lambda: sampling.ALWAYS_ON,
        "always_off": lambda: sampling.ALWAYS_OFF,
        "traceidratio": lambda: sampling.TraceIdRatioBased(ratio),
        "parentbased_always_on": lambda: sampling.DEFAULT_ON,
        "parentbased_always_off": lambda: sampling.DEFAULT_OFF,
        "parentbased_traceidratio": lambda: sampling.ParentBasedTraceIdRatio(ratio),
    }[settings.otel_traces_sampler]()


def root_bound_of(settings: Settings) -> int | None:
    """The trace id bound of the standard sampler's decision for a new trace (`Tracing.root_bound`):
    every standard sampler decides a root span by a ratio of the trace id, 0 and 1 included."""
    from opentelemetry.sdk.trace.sampling import TraceIdRatioBased

    ratio = {"always_on": 1.0, "always_off": 0.0, "parentbased_always_on": 1.0, "parentbased_always_off": 0.0}
    rate = ratio.get(settings.otel_traces_sampler, settings.otel_traces_sampler_arg)
    return TraceIdRatioBased.get_bound_for_rate(rate)


def start_tracing(settings: Settings, exporter: SpanExporter | None = None) -> Tracing:
    """A tracer provider for this worker, exporting over OTLP/HTTP.

    `exporter` replaces the OTLP exporter (tests use the SDK's in-memory one);
    spans then leave at once instead of in batches, and the provider is not
    made the process-wide default.
    """
    from opentelemetry import propagate, trace
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    resource = Resource.create({"service.name": settings.otel_service_name, "service.version": __version__})
    provider = TracerProvider(
        resource=resource, sampler=sampler_from(settings), id_generator=trace_id_generator()
    )
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        # The exporter reads its endpoint, headers, timeout and TLS files from OTEL_EXPORTER_OTLP_*.
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(provider)
    else:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing = Tracing(
        provider,
        provider.get_tracer("halo", __version__),
        root_bound=root_bound_of(settings),
        propagated=tuple(sorted(propagate.get_global_textmap().fields)),
    )
    for instrumentor in (AsyncPGInstrumentor(), RedisInstrumentor()):
        instrumentor.instrument(tracer_provider=provider, skip_dep_check=True)
        tracing._instrumentors.append(instrumentor)
    endpoint = settings.otel_exporter_otlp_traces_endpoint or settings.otel_exporter_otlp_endpoint
    log.info("tracing on: exporting to %s as %s", endpoint or "a test exporter", settings.otel_service_name)
    return tracing


def untraced(work: Awaitable[T]) -> Coroutine[Any, Any, T]:
    """Run background work (probes, pruning) without spans: they would be traces of their own,
    one a second, burying the requests'."""
    from opentelemetry.instrumentation.utils import suppress_instrumentation

    async def run() -> T:
        with suppress_instrumentation():
            return await work

    return run()
