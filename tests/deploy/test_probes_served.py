"""Every probe path and port in the chart and the manifests is served by the real application."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from halo.config import Settings
from tests.deploy.conftest import OVERLAYS, Tools, config_env, kustomize, one, render
from tests.support.polling import poll_until
from tests.support.server import RunningServer, base_env, serving
from tests.support.services import free_port


def _probes(objects: list[dict[str, Any]]) -> tuple[dict[str, str], set[tuple[str, int]]]:
    """The container's config environment and its probes as (path, container port number)."""
    spec = one(objects, "Deployment", "halo")["spec"]["template"]["spec"]
    container = next(c for c in spec["containers"] if c["name"] == "api")
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    probes = set()
    for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
        get = container[kind]["httpGet"]
        port = get["port"]
        probes.add((get["path"], ports[port] if isinstance(port, str) else port))
    env = config_env(objects, spec, container)
    assert ports["http"] == int(env["PORT"]), "the app listens on PORT: the http port must be that"
    assert ports["metrics"] == int(env["METRICS_PORT"])
    return env, probes


def _all_sources(tools: Tools) -> dict[str, list[dict[str, Any]]]:
    sources = {"chart": render(tools)}
    for overlay in OVERLAYS:
        sources[f"k8s/{overlay}"] = kustomize(tools, overlay)
    return sources


@pytest.fixture(scope="module")
def server(database_url: str, redis_url: str) -> Iterator[RunningServer]:
    yield from serving(base_env(database_url, redis_url, WORKERS="1"))


def test_probe_paths_are_served_on_the_http_port(tools: Tools, server: RunningServer) -> None:
    for source, objects in _all_sources(tools).items():
        _, probes = _probes(objects)
        assert {path for path, _ in probes} == {"/health/live", "/health/ready"}, source
        for path, _ in probes:
            # The test server listens on a free port; the assertion above ties the probe port to PORT.
            response = httpx.get(f"{server.url}{path}", timeout=5)
            assert response.status_code == 200, f"{source}: {path} -> {response.status_code}"


def test_metrics_port_and_path_match_the_service_configuration(
    tools: Tools, database_url: str, redis_url: str
) -> None:
    """The chart, ServiceMonitor and manifests point at METRICS_PORT and /metrics, and the app serves it there."""
    default_port = Settings(env="development").metrics_port
    for source, objects in _all_sources(tools).items():
        env, _ = _probes(objects)
        assert int(env["METRICS_PORT"]) == default_port, source
    monitored = render(tools, set_values=["metrics.serviceMonitor.enabled=true"])
    endpoint = one(monitored, "ServiceMonitor")["spec"]["endpoints"][0]
    assert endpoint["path"] == "/metrics"
    service_ports = {p["name"]: p for p in one(monitored, "Service", "halo-metrics")["spec"]["ports"]}
    assert endpoint["port"] in service_ports
    assert service_ports[endpoint["port"]]["targetPort"] == "metrics"
    metrics_port = free_port()
    running = RunningServer(
        base_env(database_url, redis_url, WORKERS="1", METRICS_PORT=str(metrics_port))
    ).start()
    try:
        url = f"http://127.0.0.1:{metrics_port}{endpoint['path']}"

        def published() -> bool:
            response = httpx.get(url, timeout=5)
            assert response.status_code == 200
            return "http_server_request_duration_seconds" in response.text

        assert poll_until(published, timeout=10, interval=0.2)  # request counts are published every 0.5 s
    finally:
        running.terminate()
