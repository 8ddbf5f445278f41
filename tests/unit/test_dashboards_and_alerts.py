"""The Grafana dashboard and the Prometheus alert rules the chart ships: they ask only for
series the service really exports, they parse, and the alerts fire when they should."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import promql_parser as promql
import yaml

from tests.support.metrics import exported_sample_names
from tests.support.services import require_tool

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "charts/halo/files/dashboards/halo.json"
ALERTS = ROOT / "charts/halo/files/alerts/halo-rules.yaml"
ALERT_TESTS = Path(__file__).parent / "alerts/halo-rules.test.yaml"

# Prometheus' own scrape health, and kube-state-metrics for replica counts.
FOREIGN = re.compile(r"^(up|kube_\w+)$")


def require(tool: str) -> str:
    return require_tool(tool, "Debian: apt-get install prometheus; .ci/run installs it")


def metric_names(node: Any) -> set[str]:
    """Every metric a PromQL expression selects (a selector without a literal name is an error)."""
    if isinstance(node, promql.VectorSelector):
        if node.name:
            return {node.name}
        named = [
            m.value for m in node.matchers.matchers if m.name == "__name__" and str(m.op) == "MatchOp.Equal"
        ]
        if not named:
            raise AssertionError(f"selector without a metric name: {node}")
        return set(named)
    if isinstance(node, promql.MatrixSelector):
        return metric_names(node.vector_selector)
    if isinstance(node, promql.Call):
        return set().union(*(metric_names(arg) for arg in node.args))
    if isinstance(node, promql.AggregateExpr):
        return metric_names(node.expr) | (metric_names(node.param) if node.param is not None else set())
    if isinstance(node, promql.BinaryExpr):
        return metric_names(node.lhs) | metric_names(node.rhs)
    if isinstance(node, promql.ParenExpr | promql.UnaryExpr | promql.SubqueryExpr):
        return metric_names(node.expr)
    if isinstance(node, promql.NumberLiteral | promql.StringLiteral):
        return set()
    raise AssertionError(f"unexpected PromQL node {type(node).__name__}")


def grafana_to_promql(expr: str) -> str:
    """Grafana's variables as Prometheus would see them after interpolation."""
    expr = re.sub(r"\$\{?__(rate_interval|interval|range)\}?", "5m", expr)
    return re.sub(r"\$\{?\w+\}?", ".*", expr)


def unknown_metrics(expr: str) -> set[str]:
    names = metric_names(promql.parse(expr))
    assert names, f"no metric in {expr!r}"
    return {name for name in names if name not in exported_sample_names() and not FOREIGN.match(name)}


# --- dashboard ----------------------------------------------------------------


def dashboard_panels() -> list[dict[str, Any]]:
    def walk(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
        found = []
        for panel in panels:
            found.append(panel)
            found.extend(walk(panel.get("panels", [])))
        return found

    return walk(json.loads(DASHBOARD.read_text())["panels"])


def dashboard_queries() -> list[str]:
    queries = [target["expr"] for panel in dashboard_panels() for target in panel.get("targets", [])]
    for variable in json.loads(DASHBOARD.read_text())["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
            selector = re.fullmatch(r"label_values\((.+), *\w+\)", query)
            assert selector, query
            queries.append(selector.group(1))
    return queries


def test_dashboard_queries_name_only_exported_metrics() -> None:
    queries = dashboard_queries()
    assert len(queries) > 20
    for query in queries:
        assert not unknown_metrics(grafana_to_promql(query)), query


def test_dashboard_shows_what_sres_need() -> None:
    document = json.loads(DASHBOARD.read_text())
    assert document["uid"] == "halo-service"
    panels = dashboard_panels()
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids))
    titles = " | ".join(panel["title"].lower() for panel in panels)
    for wanted in (
        "requests per second by route",
        "error ratio",
        "p50 latency by route",
        "p95 latency by route",
        "p99 latency by route",
        "rate-limited",
        "database pool saturation",
        "redis errors",
        "flush lag",
        "replicas",
        "open websockets",
        "websocket messages per second",
        "websocket closes by code",
    ):
        assert wanted in titles, wanted
    for panel in panels:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
            assert panel["gridPos"]["w"] <= 24
    queries = " ".join(dashboard_queries())
    for quantile in ("0.5", "0.95", "0.99"):
        assert f"histogram_quantile({quantile}, sum by (le, http_route)" in queries


# --- alerts -------------------------------------------------------------------


def alert_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS.read_text())
    assert set(document) == {"groups"}
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_alerts_name_only_exported_metrics() -> None:
    for rule in alert_rules():
        assert not unknown_metrics(rule["expr"]), rule["alert"]


def selectors(node: Any) -> list[promql.VectorSelector]:
    """Every vector selector of a PromQL expression."""
    if isinstance(node, promql.VectorSelector):
        return [node]
    if isinstance(node, promql.MatrixSelector):
        return selectors(node.vector_selector)
    if isinstance(node, promql.Call):
        return [s for arg in node.args for s in selectors(arg)]
    children = [getattr(node, name, None) for name in ("expr", "lhs", "rhs", "param")]
    return [s for child in children if isinstance(child, promql.Expr) for s in selectors(child)]


def test_alerts_select_one_release_by_name_never_by_regex() -> None:
    """Each selector names the release "halo" in namespace "halo" with equality matchers, which the
    chart replaces with its release's names (charts/halo/templates/prometheusrule.yaml)."""
    for rule in alert_rules():
        for selector in selectors(promql.parse(rule["expr"])):
            matchers = {m.name: (str(m.op), m.value) for m in selector.matchers.matchers}
            assert matchers.get("namespace") == ("MatchOp.Equal", "halo"), (rule["alert"], selector.name)
            release = matchers.get("service") or matchers.get("deployment")
            assert release in (("MatchOp.Equal", "halo-metrics"), ("MatchOp.Equal", "halo")), (
                rule["alert"],
                selector.name,
            )
        assert ".*halo" not in rule["expr"], rule["alert"]


def test_alerts_cover_errors_latency_flush_lag_readiness_and_websockets() -> None:
    rules = {rule["alert"]: rule for rule in alert_rules()}
    assert "halo_websocket_closed_total" in rules["HaloWebSocketSlowClients"]["expr"]
    for name in (
        "HaloHighErrorRatio",
        "HaloLatencyObjective",
        "HaloViewFlushLagging",
        "HaloInstancesNotReady",
    ):
        assert name in rules
    for rule in rules.values():
        assert rule["labels"]["severity"] in ("critical", "warning")
        assert rule["annotations"]["summary"]
        assert rule["annotations"]["description"]
        assert rule.get("for")


def test_promtool_accepts_the_rules() -> None:
    promtool = require("promtool")
    result = subprocess.run(
        [promtool, "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_alerts_fire_when_they_should_and_stay_quiet_otherwise() -> None:
    promtool = require("promtool")
    result = subprocess.run(
        [promtool, "test", "rules", ALERT_TESTS.name],
        cwd=ALERT_TESTS.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_name_check_catches_a_metric_the_service_does_not_export() -> None:
    assert unknown_metrics('sum(rate(http_requests_total{job="halo"}[5m])) / sum(up)') == {
        "http_requests_total"
    }
    assert not unknown_metrics("sum(kube_pod_info) + sum(halo_build_info)")
    assert unknown_metrics('{__name__="nope_total"} + {__name__="halo_build_info"}') == {"nope_total"}
