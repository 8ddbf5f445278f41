"""OpenTelemetry tracing: on only when an OTLP endpoint is configured, per worker.

`start_tracing` builds a tracer provider from the standard variables
(`OTEL_SERVICE_NAME`, `OTEL_TRACES_SAMPLER[_ARG]`, and the OTLP exporter's
own `OTEL_EXPORTER_OTLP_*`), exports in batches over OTLP/HTTP, and turns on
the official asyncpg and redis instrumentations so that queries and
commands become child spans of the request's server span.

With no endpoint nothing here is imported or run: no provider, no
instrumentation, no middleware (the app factory checks `Settings.tracing_enabled`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from halo import __version__
from halo.config import Settings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.sdk.trace.sampling import Sampler
    from opentelemetry.trace import Tracer

log = logging.getLogger("halo.tracing")

T = TypeVar("T")


@dataclass
class Tracing:
    provider: TracerProvider
    tracer: Tracer
    _instrumentors: list[Any] = field(default_factory=list)

    def shutdown(self) -> None:
        """Stop instrumenting and export what is still queued (bounded by the exporter's timeout)."""
        for instrumentor in self._instrumentors:
            instrumentor.uninstrument()
        self._instrumentors.clear()
        self.provider.shutdown()


def sampler_from(settings: Settings) -> Sampler:
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


def start_tracing(settings: Settings, exporter: SpanExporter | None = None) -> Tracing:
    """A tracer provider for this worker, exporting over OTLP/HTTP.

    `exporter` replaces the OTLP exporter (tests use the SDK's in-memory one);
    spans then leave at once instead of in batches, and the provider is not
    made the process-wide default.
    """
    from opentelemetry import trace
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    resource = Resource.create({"service.name": settings.otel_service_name, "service.version": __version__})
    provider = TracerProvider(resource=resource, sampler=sampler_from(settings))
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        # The exporter reads its endpoint, headers, timeout and TLS files from OTEL_EXPORTER_OTLP_*.
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(provider)
    else:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing = Tracing(provider, provider.get_tracer("halo", __version__))
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
