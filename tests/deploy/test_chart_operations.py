"""The chart's operator-facing values: where credentials come from, the operator's own env,
volumes and containers, the alert rules as shipped, the image a release runs, and the
ingress' trust in forwarded headers."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import (
    CHART,
    CI_VALUES,
    NAMESPACE,
    ROOT,
    Tools,
    by_kind,
    config_env,
    documents,
    helm_template,
    one,
    pod_specs,
    render,
)

RULES = CHART / "files" / "alerts" / "halo-rules.yaml"
RUNBOOK = ROOT / "docs" / "runbook.md"


def _secret_refs(container: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {
        e["name"]: (e["valueFrom"]["secretKeyRef"]["name"], e["valueFrom"]["secretKeyRef"]["key"])
        for e in container["env"]
        if "secretKeyRef" in e.get("valueFrom", {})
    }


def _workloads(objects: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [(label, spec) for label, spec in pod_specs(objects) if not label.startswith("Pod/")]


# --- A1: each credential from its own Secret ------------------------------------


def test_each_credential_comes_from_its_own_existing_secret_and_the_chart_keeps_the_rest(
    tools: Tools,
) -> None:
    objects = render(tools, CHART / "ci" / "external-database-values.yaml")
    # the chart's Secret (and its hook copy) hold only the JWT secret: nothing supplied elsewhere
    for secret in by_kind(objects, "Secret"):
        assert set(secret["data"]) == {"jwt-secret"}, secret["metadata"]["name"]
    for label, spec in _workloads(objects):
        container = spec["containers"][0]
        refs = _secret_refs(container)
        assert refs["DATABASE_PASSWORD"] == ("halo-db", "password"), label
        assert refs["REDIS_URL"] == ("halo-redis", "url"), label
        assert refs["JWT_SECRET"][0] in {"halo", "halo-migrate"}, label
        names = [e["name"] for e in container["env"]]
        # Kubernetes expands $(DATABASE_PASSWORD) only when it is defined before DATABASE_URL
        assert names.index("DATABASE_PASSWORD") < names.index("DATABASE_URL"), label
        url = next(e["value"] for e in container["env"] if e["name"] == "DATABASE_URL")
        assert url == "postgres://halo_app:$(DATABASE_PASSWORD)@db.internal.example.com:6432/halo_production"


def test_only_the_jwt_secret_external_keeps_the_urls_in_the_charts_secret(tools: Tools) -> None:
    objects = render(tools, set_values=["secret.existingSecret=halo-jwt", "secret.keys.jwtSecret=token-key"])
    secret = one(objects, "Secret", "halo")
    assert set(secret["data"]) == {"database-url", "redis-url"}
    refs = _secret_refs(one(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0])
    assert refs["JWT_SECRET"] == ("halo-jwt", "token-key")
    assert refs["DATABASE_URL"] == ("halo", "database-url")
    assert refs["REDIS_URL"] == ("halo", "redis-url")


def test_database_url_alone_from_an_existing_secret(tools: Tools) -> None:
    objects = render(
        tools, set_values=["database.existingSecret=pg-app", "database.existingSecretUrlKey=uri"]
    )
    assert set(one(objects, "Secret", "halo")["data"]) == {"jwt-secret", "redis-url"}
    refs = _secret_refs(one(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0])
    assert refs["DATABASE_URL"] == ("pg-app", "uri")


def test_every_credential_external_means_no_chart_secret(tools: Tools) -> None:
    objects = render(tools, CHART / "ci" / "existing-secret-values.yaml")
    assert not by_kind(objects, "Secret")
    deployment = one(objects, "Deployment")["spec"]["template"]
    assert "checksum/secret" not in deployment["metadata"]["annotations"]


def test_database_parts_need_a_password_source(tools: Tools) -> None:
    refused = helm_template(tools, set_values=["database.host=db.example.com"], check=False)
    assert refused.returncode != 0
    assert "database.existingSecret" in refused.stderr
    objects = render(tools, set_values=["database.host=db.example.com", "database.password=s3cret-pw"])
    assert "database-password" in one(objects, "Secret", "halo")["data"]
    assert "database-url" not in one(objects, "Secret", "halo")["data"]
    bad = helm_template(
        tools, set_values=["database.host=db.example.com", "database.password=p@ss/word"], check=False
    )
    assert "values don't meet the specifications of the schema" in bad.stderr


# --- A2: the operator's own env, volumes and containers -----------------------------


def test_extra_env_volumes_and_annotations_reach_the_api_and_the_migration_job(tools: Tools) -> None:
    objects = render(tools, CHART / "ci" / "all-features-values.yaml")
    for kind in ("Deployment", "Job"):
        workload = one(objects, kind)
        template = workload["spec"]["template"]
        spec = template["spec"]
        container = spec["containers"][0]
        env = {e["name"]: e for e in container["env"]}
        assert env["OTEL_RESOURCE_ATTRIBUTES"]["value"] == "deployment.environment=ci", kind
        assert env["NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName", kind
        sources = container["envFrom"]
        assert {"configMapRef": {"name": "halo-extra-config"}} in sources, kind
        assert {"secretRef": {"name": "halo-extra-secrets"}} in sources, kind
        assert {"name": "ca-bundle", "configMap": {"name": "corporate-ca"}} in spec["volumes"], kind
        mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
        assert mounts["/etc/ssl/corporate"]["readOnly"] is True, kind
        assert template["metadata"]["annotations"]["example.com/team"] == "video", kind
        assert template["metadata"]["labels"]["example.com/cost-center"] == "video", kind


def test_sidecars_and_init_containers_join_the_api_pods_only(tools: Tools) -> None:
    objects = render(tools, CHART / "ci" / "external-database-values.yaml")
    spec = one(objects, "Deployment")["spec"]["template"]["spec"]
    assert [c["name"] for c in spec["containers"]] == ["api", "log-shipper"]
    assert [c["name"] for c in spec["initContainers"]] == ["wait-for-database"]
    # a sidecar in the hook Job would keep it from ever completing
    job = one(objects, "Job")["spec"]["template"]["spec"]
    assert [c["name"] for c in job["containers"]] == ["migrate"]
    assert "initContainers" not in job


def test_extra_env_cannot_override_what_the_chart_manages(tools: Tools) -> None:
    refused = helm_template(
        tools, set_values=["extraEnvVars[0].name=DATABASE_URL", "extraEnvVars[0].value=x"], check=False
    )
    assert refused.returncode != 0
    assert "extraEnvVars: DATABASE_URL is managed by the chart" in refused.stderr


# --- A6: alert rules as shipped --------------------------------------------------


def _rules(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    rule = one(objects, "PrometheusRule")
    return {r["alert"]: r for group in rule["spec"]["groups"] for r in group["rules"]}


def test_alert_rules_name_the_releases_namespace_service_and_deployment(tools: Tools) -> None:
    text = helm_template(
        tools, set_values=["metrics.prometheusRule.enabled=true"], release="shop", namespace="video-prod"
    ).stdout
    rules = _rules(documents(text))
    file_rules = [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    assert set(rules) == {r["alert"] for r in file_rules}
    for name, rule in rules.items():
        expr = rule["expr"]
        assert ".*halo" not in expr and '=~".*' not in expr, name
        assert 'namespace="halo"' not in expr, name
        assert (
            'namespace="video-prod", service="shop-halo-metrics"' in expr
            or 'namespace="video-prod", deployment="shop-halo"' in expr
        ), name
    # the names are the objects the release creates
    objects = documents(text)
    assert one(objects, "Service", "shop-halo-metrics")
    assert one(objects, "Deployment", "shop-halo")


def test_each_alert_has_a_runbook_entry_extra_labels_and_a_switch(tools: Tools) -> None:
    rules = _rules(render(tools, CHART / "ci" / "all-features-values.yaml"))
    assert "HaloMetricsDown" not in rules  # switched off in that values file
    anchors = set(re.findall(r"^## (\w+)", RUNBOOK.read_text(), re.MULTILINE))
    for name, rule in rules.items():
        assert rule["annotations"]["runbook_url"] == f"https://wiki.example.com/halo/runbook#{name.lower()}"
        assert rule["labels"]["team"] == "video", name
        assert rule["labels"]["severity"] in ("critical", "warning"), name
    defaults = _rules(render(tools, set_values=["metrics.prometheusRule.enabled=true"]))
    values = yaml.safe_load((CHART / "values.yaml").read_text())["metrics"]["prometheusRule"]
    for name, rule in defaults.items():
        # the default base URL points into docs/runbook.md, at the alert's own heading
        assert rule["annotations"]["runbook_url"] == f"{values['runbookBaseUrl']}#{name.lower()}"
        assert values["runbookBaseUrl"].endswith("/docs/runbook.md")
        assert name in anchors, f"docs/runbook.md has no '## {name}' entry"
        assert "team" not in rule["labels"]
    # one switch per alert, and the schema knows every alert (a typo is refused)
    assert set(values["alerts"]) == set(defaults)
    schema = json.loads((CHART / "values.schema.json").read_text())
    switches = schema["properties"]["metrics"]["properties"]["prometheusRule"]["properties"]["alerts"]
    assert set(switches["properties"]) == set(defaults)
    typo = helm_template(
        tools, set_values=["metrics.prometheusRule.alerts.HaloMetricDown=false"], check=False
    )
    assert "values don't meet the specifications of the schema" in typo.stderr


def test_websocket_metrics_have_an_alert(tools: Tools) -> None:
    rules = _rules(render(tools, set_values=["metrics.prometheusRule.enabled=true"]))
    websocket = [name for name, rule in rules.items() if "halo_websocket_" in rule["expr"]]
    assert websocket == ["HaloWebSocketSlowClients"]


def test_dashboard_shows_every_websocket_metric(tools: Tools) -> None:
    objects = render(tools, set_values=["dashboard.enabled=true"])
    dashboard = next(o for o in by_kind(objects, "ConfigMap") if o["metadata"]["name"].endswith("-dashboard"))
    panels = json.loads(dashboard["data"]["halo.json"])["panels"]
    queries = {
        panel["title"]: " ".join(target["expr"] for target in panel.get("targets", [])) for panel in panels
    }
    for metric in (
        "halo_websocket_connections",
        "halo_websocket_messages_total",
        "halo_websocket_closed_total",
    ):
        assert any(metric in query for query in queries.values()), metric
    assert "code" in queries["WebSocket closes by code"]


# --- A7, A8: chart metadata and the image a release runs ---------------------------


# Names that can never be anybody's address (RFC 2606, RFC 6761): a placeholder, not a location.
RESERVED_NAME = re.compile(
    r"(^|[.@/])(example\.(com|org|net)|[^/]*\.(example|invalid|test|localhost))(?=[/:]|$)"
)


def test_chart_metadata_says_where_it_comes_from_and_who_keeps_it() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    home = chart["home"]
    assert home.startswith("https://"), home
    assert chart["sources"] and all(s.startswith("https://") for s in chart["sources"])
    assert chart["maintainers"] and all(
        m["name"] and (m.get("email") or m.get("url")) for m in chart["maintainers"]
    )
    addresses = [home, *chart["sources"]] + [
        m[key] for m in chart["maintainers"] for key in ("email", "url") if m.get(key)
    ]
    for address in addresses:
        assert not RESERVED_NAME.search(address), f"{address}: a reserved example name, not a real one"
    # one location wherever the repository names itself: the chart, the image's source label,
    # each alert's runbook_url
    assert chart["sources"][0] == home
    makefile = re.search(r"^SOURCE_URL \?= (\S+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    dockerfile = re.search(r"^ARG SOURCE=(\S+)$", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert makefile and makefile.group(1) == home
    assert dockerfile and dockerfile.group(1) == home
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["metrics"]["prometheusRule"]["runbookBaseUrl"] == f"{home}/blob/main/docs/runbook.md"


def test_a_reserved_example_name_is_told_from_a_real_one() -> None:
    for placeholder in (
        "https://github.example/halo",
        "platform@halo.example.com",
        "https://example.org/halo",
        "https://halo.invalid",
        "https://halo.test:8443/x",
    ):
        assert RESERVED_NAME.search(placeholder), placeholder
    for real in ("https://github.com/halo/halo", "https://examples.com/x", "ops@example-corp.io"):
        assert not RESERVED_NAME.search(real), real


def test_rendering_without_an_image_repository_fails_with_how_to_build_one(tools: Tools) -> None:
    refused = helm_template(tools, bare=True, check=False)
    assert refused.returncode != 0
    assert "image.repository is required" in refused.stderr
    assert "make image" in refused.stderr
    assert "make push REGISTRY=" in refused.stderr
    assert yaml.safe_load((CHART / "values.yaml").read_text())["image"]["repository"] == ""


@pytest.mark.parametrize("values", CI_VALUES, ids=[p.stem for p in CI_VALUES])
def test_every_ci_values_file_names_its_image(tools: Tools, values: Path) -> None:
    assert yaml.safe_load(values.read_text())["image"]["repository"], values.name
    objects = render(tools, values)
    for label, spec in pod_specs(objects):
        for container in spec["containers"]:
            if container["name"] in ("api", "migrate", "ready"):
                assert container["image"].startswith("registry.example.com/"), label


# --- A9, B1: the ingress ------------------------------------------------------------


def _ingress_paths(objects: list[dict[str, Any]]) -> list[tuple[str, str]]:
    ingress = one(objects, "Ingress")
    return [
        (path["path"], path["pathType"])
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    ]


def _routed(paths: list[tuple[str, str]], request_path: str) -> bool:
    """Kubernetes' Ingress matching: Exact is the whole path, Prefix whole path elements."""
    for path, kind in paths:
        assert kind in ("Exact", "Prefix"), f"{path}: {kind} means what the controller says"
        if kind == "Exact" and request_path == path:
            return True
        prefix = path.rstrip("/")
        if kind == "Prefix" and (request_path == prefix or request_path.startswith(prefix + "/")):
            return True
    return False


def test_ingress_matching_follows_kubernetes() -> None:
    paths = [("/docs", "Prefix"), ("/openapi.json", "Exact")]
    assert _routed(paths, "/docs") and _routed(paths, "/docs/redoc.standalone.js")
    assert not _routed(paths, "/docsx") and not _routed(paths, "/openapi.json/x")
    assert not _routed([("/docs", "Exact")], "/docs/redoc.standalone.js")


def test_ingress_examples_route_the_api_and_its_openapi_document(tools: Tools) -> None:
    """Everything /docs loads comes through the ingress too, not the page alone; /metrics never does."""
    from halo.api.docs import BUNDLE

    needed = ["/api/v1/videos", "/health/ready", "/openapi.json", "/docs", BUNDLE]
    for objects in (
        render(tools, CHART / "ci" / "ingress-tls-values.yaml"),
        render(tools, set_values=["ingress.enabled=true", "trustedProxies={10.0.0.0/8}"]),
    ):
        paths = _ingress_paths(objects)
        assert [p for p in needed if not _routed(paths, p)] == [], paths
        assert not _routed(paths, "/metrics"), paths


def test_the_readmes_values_install_and_route_what_a_client_needs(tools: Tools, tmp_path: Path) -> None:
    """README.md's halo-values.yaml (what a platform team must set) renders as written."""
    from halo.api.docs import BUNDLE

    blocks = re.findall(r"```yaml\n(# halo-values\.yaml.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)
    assert len(blocks) == 1, "README.md: one ```yaml block starting '# halo-values.yaml'"
    values = tmp_path / "halo-values.yaml"
    values.write_text(blocks[0])
    objects = render(tools, values)
    paths = _ingress_paths(objects)
    for needed in ("/api/v1/videos", "/health/ready", "/openapi.json", "/docs", BUNDLE):
        assert _routed(paths, needed), (needed, paths)
    refs = _secret_refs(one(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0])
    # the keys README.md's `kubectl create secret generic halo-credentials` writes
    assert refs["JWT_SECRET"] == ("halo-credentials", "jwt-secret")
    assert refs["DATABASE_URL"] == ("halo-credentials", "database-url")
    assert refs["REDIS_URL"] == ("halo-credentials", "redis-url")
    assert not by_kind(objects, "Secret")


def test_an_ingress_without_trusted_proxies_is_refused(tools: Tools) -> None:
    refused = helm_template(tools, set_values=["ingress.enabled=true"], check=False)
    assert refused.returncode != 0
    assert "ingress.enabled=true needs trustedProxies" in refused.stderr
    objects = render(tools, set_values=["ingress.enabled=true", "trustedProxies={10.0.0.0/8,192.168.0.0/16}"])
    spec = one(objects, "Deployment")["spec"]["template"]["spec"]
    assert config_env(objects, spec, spec["containers"][0])["TRUSTED_PROXIES"] == "10.0.0.0/8,192.168.0.0/16"
    # the setting has one way in: its value, not config.extra
    extra = helm_template(tools, set_values=["config.extra.TRUSTED_PROXIES=10.0.0.0/8"], check=False)
    assert "managed by the chart" in extra.stderr


@pytest.mark.parametrize("values", CI_VALUES, ids=[p.stem for p in CI_VALUES])
def test_every_ci_render_with_an_ingress_trusts_its_proxies(tools: Tools, values: Path) -> None:
    objects = render(tools, values)
    if by_kind(objects, "Ingress"):
        spec = one(objects, "Deployment")["spec"]["template"]["spec"]
        assert config_env(objects, spec, spec["containers"][0])["TRUSTED_PROXIES"]


# --- B3: METRICS_HOST -----------------------------------------------------------


def test_metrics_host_is_a_value(tools: Tools) -> None:
    assert one(render(tools), "ConfigMap", "halo")["data"]["METRICS_HOST"] == "0.0.0.0"
    data = one(render(tools, set_values=["metrics.host=::"]), "ConfigMap", "halo")["data"]
    assert data["METRICS_HOST"] == "::"
    # asked for: the pod's own address, from the downward API, instead of every interface
    objects = render(tools, set_values=["metrics.host=podIP"])
    assert "METRICS_HOST" not in one(objects, "ConfigMap", "halo")["data"]
    container = one(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert env["METRICS_HOST"]["valueFrom"] == {"fieldRef": {"fieldPath": "status.podIP"}}
    assert one(render(tools), "ConfigMap", "halo")["metadata"]["namespace"] == NAMESPACE


@pytest.mark.parametrize("values", [None, *CI_VALUES], ids=["default", *(p.stem for p in CI_VALUES)])
def test_every_variable_the_chart_sets_is_a_service_setting(tools: Tools, values: Path | None) -> None:
    """A misspelt name (METRIC_HOST) would be ignored by the service without a word."""
    from halo.config import Settings

    fields = {name.upper() for name in Settings.model_fields}
    objects = render(tools, *(() if values is None else (values,)))
    for label, spec in _workloads(objects):
        container = spec["containers"][0]
        names = set(config_env(objects, spec, container)) | {e["name"] for e in container["env"]}
        # DATABASE_PASSWORD only feeds $(DATABASE_PASSWORD) in DATABASE_URL; the rest are the operator's own
        ours = (
            names
            - {"DATABASE_PASSWORD"}
            - {
                e["name"]
                for e in yaml.safe_load((values or CHART / "values.yaml").read_text()).get("extraEnvVars", [])
            }
        )
        assert ours <= fields, (label, sorted(ours - fields))
