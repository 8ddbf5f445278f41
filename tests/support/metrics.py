"""Reading a /metrics page the way Prometheus does (prometheus-client's own text parser)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True)
class Scrape:
    families: dict[str, str]  # family name -> type
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float]

    def value(self, name: str, **labels: str) -> float | None:
        """The sample with exactly these labels, or None."""
        return self.samples.get((name, frozenset(labels.items())))

    def total(self, name: str, **labels: str) -> float:
        """The sum over every sample of `name` whose labels include these."""
        wanted = set(labels.items())
        return sum(v for (n, ls), v in self.samples.items() if n == name and wanted <= ls)

    @property
    def sample_names(self) -> set[str]:
        return {name for name, _ in self.samples}


def declared_families() -> dict[str, str]:
    """Every family `halo.observability.metrics` declares, by name as scraped (counters without `_total`)."""
    from prometheus_client import CollectorRegistry

    from halo.observability.metrics import Metrics

    registry = CollectorRegistry()
    Metrics(registry)
    return {family.name: family.type for family in registry.collect()}


def exported_sample_names() -> set[str]:
    """The series names a scrape of the service can hold (what PromQL may select)."""
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}
    return {name + suffix for name, kind in declared_families().items() for suffix in suffixes[kind]}


def parse(text: str) -> Scrape:
    families: dict[str, str] = {}
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(text):
        families[family.name] = family.type
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return Scrape(families, samples)


def scrape(url: str) -> Scrape:
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


def scrape_until(url: str, done: Callable[[Scrape], bool], timeout: float = 15.0) -> Scrape:
    """Scrape until `done` holds (for values sampled in the background), or return the last scrape."""
    deadline = time.monotonic() + timeout
    while True:
        result = scrape(url)
        if done(result) or time.monotonic() > deadline:
            return result
        time.sleep(0.2)
