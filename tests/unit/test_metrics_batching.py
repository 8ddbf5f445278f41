"""Request metrics, observed one by one or (fast path) counted in memory and published in batches,
record what `observe()` would."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from prometheus_client import CollectorRegistry, Gauge, Histogram

from halo.http.fastpath import BatchWriter
from halo.http.fastpath.histogram_batches import add_bucket_counts
from halo.middleware.metrics import RequestMetrics
from halo.observability.metrics import DURATION_BUCKETS


def _metrics() -> SimpleNamespace:
    registry = CollectorRegistry()
    labels = ["http_request_method", "http_route", "http_response_status_code"]
    return SimpleNamespace(
        request_duration=Histogram("d_seconds", "d", labels, buckets=DURATION_BUCKETS, registry=registry),
        active_requests=Gauge("active", "a", registry=registry),
        reference=Histogram("r_seconds", "r", labels, buckets=DURATION_BUCKETS, registry=registry),
        registry=registry,
    )


def _request(started: float) -> SimpleNamespace:
    route = SimpleNamespace(path="api/v1/things/<id:int>")
    return SimpleNamespace(ctx=SimpleNamespace(started=started), route=route, method="GET")


WRITERS = pytest.mark.parametrize("writer", [None, add_bucket_counts], ids=["plain", "fast-path"])


@WRITERS
@pytest.mark.parametrize("durations", [[0.001, 0.004, 0.02, 0.3, 12.0, 0.005, 0.0051]])
def test_published_metrics_match_observe(
    durations: list[float], writer: BatchWriter | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    metrics = _metrics()
    request_metrics = RequestMetrics(metrics, writer)  # type: ignore[arg-type]
    now = 1000.0
    monkeypatch.setattr("halo.middleware.metrics.time.perf_counter", lambda: now)
    for seconds in durations:
        request = _request(now - seconds)
        request_metrics.started(request)  # type: ignore[arg-type]
        request_metrics.finished(request, SimpleNamespace(status=200))  # type: ignore[arg-type]
        metrics.reference.labels("GET", "/api/v1/things/<id:int>", "200").observe(seconds)
    request_metrics.publish()

    def samples(name: str) -> dict[tuple[str, str], float]:
        return {
            (s.name.removeprefix(name), s.labels.get("le", "")): s.value
            for family in metrics.registry.collect()
            if family.name == name
            for s in family.samples
            if not s.name.endswith("_created")
        }

    assert samples("d_seconds") == pytest.approx(samples("r_seconds"))
    assert metrics.active_requests._value.get() == 0


@WRITERS
def test_in_flight_requests_are_published(writer: BatchWriter | None) -> None:
    metrics = _metrics()
    request_metrics = RequestMetrics(metrics, writer)  # type: ignore[arg-type]
    for _ in range(3):
        request_metrics.started(_request(0.0))  # type: ignore[arg-type]
    request_metrics.publish()
    assert metrics.active_requests._value.get() == 3
