"""A real Prometheus (Debian's `prometheus`) scrapes the running service and answers from what it stored."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.metrics import scrape, scrape_until
from tests.support.server import RunningServer
from tests.support.services import free_port, require_tool, stop_process

ALERTS = Path(__file__).resolve().parents[2] / "charts/halo/files/alerts/halo-rules.yaml"

PROFILE_COUNT = (
    'sum(http_server_request_duration_seconds_count{job="halo", http_route="/api/v1/auth/profile"})'
)


class Prometheus:
    def __init__(self, binary: str, directory: Path, target: str) -> None:
        self.port = free_port()
        config = directory / "prometheus.yml"
        config.write_text(
            f"""
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - {ALERTS}
scrape_configs:
  - job_name: halo
    static_configs:
      - targets: ["{target}"]
"""
        )
        self.log = directory / "prometheus.log"
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={directory / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--log.level=warn",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def api(self, path: str, **params: str) -> dict:  # type: ignore[type-arg]
        response = httpx.get(f"http://127.0.0.1:{self.port}/api/v1/{path}", params=params, timeout=10)
        response.raise_for_status()
        body = response.json()
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> float | None:
        result = self.api("query", query=expr)["result"]
        return float(result[0]["value"][1]) if result else None

    def wait_for(self, expr: str, expected: float, timeout: float = 60.0) -> float | None:
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited: {self.log.read_text()[-2000:]}")
            try:
                value = self.query(expr)
            except httpx.HTTPError:
                value = None  # still starting
            if value == expected:
                return value
            time.sleep(0.25)
        return value

    def stop(self) -> None:
        stop_process(self.process, timeout=30)


@pytest.fixture
def prometheus(server: RunningServer, tmp_path: Path) -> Iterator[Prometheus]:
    binary = require_tool("prometheus", "Debian: apt-get install prometheus; .ci/run installs it")
    running = Prometheus(binary, tmp_path, f"127.0.0.1:{server.metrics_port}")
    yield running
    running.stop()


def test_prometheus_scrapes_the_service_and_reads_a_request_metric_back(
    server: RunningServer, prometheus: Prometheus
) -> None:
    def profile_count() -> float:
        return scrape(server.metrics_url).total(
            "http_server_request_duration_seconds_count", http_route="/api/v1/auth/profile"
        )

    # Earlier tests' requests may still be on their way into the metrics (published every 0.5 s).
    before = profile_count()
    while True:
        time.sleep(1.0)
        settled = profile_count()
        if settled == before:
            break
        before = settled
    with httpx.Client(base_url=server.url, timeout=10) as http:
        for _ in range(25):
            assert http.get("/api/v1/auth/profile").status_code == 401
    expected = before + 25
    counted = scrape_until(
        server.metrics_url,
        lambda s: (
            s.total("http_server_request_duration_seconds_count", http_route="/api/v1/auth/profile")
            >= expected
        ),
    )
    assert (
        counted.total("http_server_request_duration_seconds_count", http_route="/api/v1/auth/profile")
        == expected
    )
    # what the service says now is what Prometheus must come to hold (nothing else calls it meanwhile)
    assert prometheus.wait_for(PROFILE_COUNT, expected) == expected
    assert prometheus.query('up{job="halo"}') == 1
    # the chart's alert rules load into a real Prometheus and evaluate without error
    groups = prometheus.api("rules")["groups"]
    assert {group["name"] for group in groups} == {
        "halo.availability",
        "halo.dependencies",
        "halo.engagement",
        "halo.live",
    }
    assert all(rule["health"] in ("ok", "unknown") for group in groups for rule in group["rules"])
