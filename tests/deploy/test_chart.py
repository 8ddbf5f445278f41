"""The Helm chart: lint, schema-valid objects for every values file, and the behaviour its values promise."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import (
    CHART,
    CI_VALUES,
    IMAGE_REPOSITORY,
    NAMESPACE,
    Tools,
    by_kind,
    config_env,
    helm_template,
    hooks,
    one,
    pod_specs,
    render,
    validate_manifests,
)

VALUES_CASES = [pytest.param(None, id="default"), *(pytest.param(p, id=p.stem) for p in CI_VALUES)]


def values_args(path: Path | None) -> tuple[Path, ...]:
    return () if path is None else (path,)


def test_ci_folder_covers_the_required_scenarios() -> None:
    names = {p.stem for p in CI_VALUES}
    assert {
        "all-features-values",
        "ingress-tls-values",
        "existing-secret-values",
        "external-database-values",
        "fixed-replicas-values",
    } <= names


@pytest.mark.parametrize("values", VALUES_CASES)
def test_helm_lint_strict(tools: Tools, values: Path | None) -> None:
    command: list[str | Path] = [tools.helm, "lint", "--strict", CHART]
    if values is None:
        command += ["--set", f"image.repository={IMAGE_REPOSITORY}"]
    else:
        command += ["--values", values]
    result = tools.run(*command)
    assert "0 chart(s) failed" in result.stdout


@pytest.mark.parametrize("values", VALUES_CASES)
def test_rendered_objects_are_valid_kubernetes_1_30(
    tools: Tools, values: Path | None, tmp_path: Path
) -> None:
    rendered = tmp_path / "rendered.yaml"
    rendered.write_text(helm_template(tools, *values_args(values)).stdout)
    assert "objects valid" in validate_manifests(tools, rendered).stdout


def test_validator_fails_on_unknown_fields_kinds_and_operator_typos(tools: Tools, tmp_path: Path) -> None:
    objects = render(tools, CHART / "ci" / "all-features-values.yaml")
    deployment = one(objects, "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGett"] = {}
    monitor = one(objects, "ServiceMonitor")
    monitor["spec"]["endpoints"][0]["scrapeInterval"] = "30s"
    unknown = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump_all([deployment, monitor, unknown]))
    result = validate_manifests(tools, path, kubernetes_version=None, check=False)
    assert result.returncode != 0
    assert "httpGett" in result.stdout
    assert "scrapeInterval" in result.stdout
    assert "Widget" in result.stdout


def test_defaults_leave_optional_features_off(tools: Tools) -> None:
    kinds = {obj["kind"] for obj in render(tools)}
    assert kinds.isdisjoint({"Ingress", "ServiceMonitor", "PrometheusRule", "NetworkPolicy"})
    assert not [obj for obj in render(tools) if obj["metadata"]["name"].endswith("-dashboard")]
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Job"} <= kinds


def test_rolling_update_keeps_capacity_and_probes_point_at_health_endpoints(tools: Tools) -> None:
    deployment = one(render(tools), "Deployment")
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxSurge"] >= 1
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert container["startupProbe"]["httpGet"]["path"] == "/health/live"
    assert container["resources"]["requests"]
    assert container["resources"]["limits"]


def test_grace_period_outlasts_prestop_delay_and_drain(tools: Tools) -> None:
    objects = render(tools)
    spec = one(objects, "Deployment")["spec"]["template"]["spec"]
    container = spec["containers"][0]
    env = config_env(objects, spec, container)
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    drain = int(command[1]) + float(env["SHUTDOWN_DELAY_SECONDS"]) + float(env["SHUTDOWN_TIMEOUT_SECONDS"])
    assert spec["terminationGracePeriodSeconds"] > drain

    refused = helm_template(tools, set_values=["terminationGracePeriodSeconds=15"], check=False)
    assert refused.returncode != 0
    assert "terminationGracePeriodSeconds" in refused.stderr


def test_connection_budget_is_stated_and_enforced(tools: Tools) -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    database = values["database"]
    pods = values["autoscaling"]["maxReplicas"] + values["rollingUpdate"]["maxSurge"]
    used = pods * values["workers"] * database["poolMax"] + database["reservedConnections"]
    assert used <= database["maxConnections"]
    env = one(render(tools), "ConfigMap", "halo")["data"]
    assert env["WORKERS"] == str(values["workers"])
    assert env["DATABASE_POOL_MAX"] == str(database["poolMax"])

    refused = helm_template(tools, set_values=["database.poolMax=50"], check=False)
    assert refused.returncode != 0
    assert "connection budget" in refused.stderr
    # the fixed-replicas budget counts replicaCount, not the HPA's ceiling
    refused = helm_template(
        tools, CHART / "ci" / "fixed-replicas-values.yaml", set_values=["replicaCount=5"], check=False
    )
    assert "connection budget" in refused.stderr
    readme = (CHART / "README.md").read_text()
    assert "max_connections" in readme


def test_hpa_scales_on_cpu_with_scale_down_stabilisation_and_memory_only_on_request(tools: Tools) -> None:
    objects = render(tools)
    hpa = one(objects, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    resources = {m["resource"]["name"] for m in hpa["spec"]["metrics"] if m["type"] == "Resource"}
    # Python rarely hands freed memory back: a memory target would add pods it never removes
    assert resources == {"cpu"}
    opted = one(
        render(tools, set_values=["autoscaling.targetMemoryUtilizationPercentage=85"]),
        "HorizontalPodAutoscaler",
    )
    memory = [m for m in opted["spec"]["metrics"] if m["resource"]["name"] == "memory"]
    assert memory[0]["resource"]["target"] == {"type": "Utilization", "averageUtilization": 85}
    assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] > 0
    assert hpa["spec"]["scaleTargetRef"]["name"] == one(objects, "Deployment")["metadata"]["name"]
    # the HPA owns the count: a fixed replicas field would fight it on every upgrade
    assert "replicas" not in one(objects, "Deployment")["spec"]


def test_hpa_off_gives_fixed_replicas(tools: Tools) -> None:
    objects = render(tools, CHART / "ci" / "fixed-replicas-values.yaml")
    assert not by_kind(objects, "HorizontalPodAutoscaler")
    assert one(objects, "Deployment")["spec"]["replicas"] == 3
    assert one(objects, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1


def test_pdb_lets_a_drain_evict_pods_that_are_not_ready(tools: Tools) -> None:
    pdb = one(render(tools), "PodDisruptionBudget")
    assert pdb["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    kept = one(
        render(tools, set_values=["podDisruptionBudget.unhealthyPodEvictionPolicy=IfHealthyBudget"]),
        "PodDisruptionBudget",
    )
    assert kept["spec"]["unhealthyPodEvictionPolicy"] == "IfHealthyBudget"
    assert (
        "unhealthyPodEvictionPolicy"
        not in one(
            render(tools, set_values=["podDisruptionBudget.unhealthyPodEvictionPolicy="]),
            "PodDisruptionBudget",
        )["spec"]
    )


def test_migration_job_runs_before_install_and_upgrade_after_its_config(tools: Tools) -> None:
    objects = render(tools)
    job = one(objects, "Job")
    events, job_weight = hooks(job)
    assert events == {"pre-install", "pre-upgrade"}
    spec = job["spec"]["template"]["spec"]
    container = spec["containers"][0]
    assert container["args"][0] == "migrate"
    needed = {("ServiceAccount", spec["serviceAccountName"])}
    needed |= {("ConfigMap", s["configMapRef"]["name"]) for s in container["envFrom"]}
    needed |= {
        ("Secret", e["valueFrom"]["secretKeyRef"]["name"]) for e in container["env"] if "valueFrom" in e
    }
    for kind, name in needed:
        dependency = one(objects, kind, name)
        dep_events, dep_weight = hooks(dependency)
        assert events <= dep_events, f"{kind}/{name} must be a pre-install and pre-upgrade hook"
        assert dep_weight < job_weight, f"{kind}/{name} must be created before the Job"
    # the hook copy carries the same configuration as the release's ConfigMap
    hook_config = one(objects, "ConfigMap", next(n for k, n in needed if k == "ConfigMap"))
    assert hook_config["data"] == one(objects, "ConfigMap", "halo")["data"]


def test_existing_secret_replaces_the_charts_secret(tools: Tools) -> None:
    objects = render(tools, CHART / "ci" / "existing-secret-values.yaml")
    assert not by_kind(objects, "Secret")
    for label, spec in pod_specs(objects):
        if label.startswith("Pod/"):
            continue
        refs = {
            e["name"]: e["valueFrom"]["secretKeyRef"]
            for e in spec["containers"][0]["env"]
            if "valueFrom" in e
        }
        assert {ref["name"] for ref in refs.values()} == {"halo-credentials"}, label
        assert refs["JWT_SECRET"]["key"] == "JWT_SECRET"
        assert refs["DATABASE_URL"]["key"] == "DATABASE_URL"
        assert refs["REDIS_URL"]["key"] == "REDIS_URL"
    assert one(objects, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == "halo-runtime"
    assert not by_kind(objects, "ServiceAccount")


def test_chart_secret_holds_every_credential_and_one_jwt_secret(tools: Tools) -> None:
    objects = render(tools)
    secrets = by_kind(objects, "Secret")
    assert {s["metadata"]["name"] for s in secrets} == {"halo", "halo-migrate"}
    for secret in secrets:
        assert {"jwt-secret", "database-url", "redis-url"} <= set(secret["data"])
    # a generated JWT secret is generated once per render: app and hook agree
    assert secrets[0]["data"]["jwt-secret"] == secrets[1]["data"]["jwt-secret"]


@pytest.mark.parametrize("values", VALUES_CASES)
def test_ingress_never_routes_to_the_metrics_port(tools: Tools, values: Path | None) -> None:
    objects = render(tools, *values_args(values))
    service = one(objects, "Service", "halo")
    assert service["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]
    # metrics have a ClusterIP Service of their own, whatever type the public one has
    metrics = one(objects, "Service", "halo-metrics")
    assert metrics["spec"]["type"] == "ClusterIP"
    assert [p["targetPort"] for p in metrics["spec"]["ports"]] == ["metrics"]
    assert metrics["spec"]["selector"] == service["spec"]["selector"]
    for ingress in by_kind(objects, "Ingress"):
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                assert backend["name"] == service["metadata"]["name"]
                assert backend["port"] == {"name": "http"}


def test_ingress_with_tls(tools: Tools) -> None:
    ingress = one(render(tools, CHART / "ci" / "ingress-tls-values.yaml"), "Ingress")
    assert ingress["spec"]["tls"] == [{"hosts": ["api.halo.example"], "secretName": "halo-tls"}]
    assert ingress["spec"]["ingressClassName"] == "nginx"


def test_service_monitor_scrapes_the_metrics_service_only(tools: Tools) -> None:
    objects = render(tools, CHART / "ci" / "all-features-values.yaml")
    monitor = one(objects, "ServiceMonitor")
    endpoint = monitor["spec"]["endpoints"][0]
    assert endpoint["port"] == "metrics"
    assert endpoint["path"] == "/metrics"
    selector = monitor["spec"]["selector"]["matchLabels"]
    metrics = one(objects, "Service", "halo-metrics")
    assert selector.items() <= metrics["metadata"]["labels"].items()
    assert not selector.items() <= one(objects, "Service", "halo")["metadata"]["labels"].items()
    # where it lives is a value; what it selects stays in the release namespace
    assert monitor["metadata"]["namespace"] == "monitoring"
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    assert endpoint["honorLabels"] is True
    assert endpoint["relabelings"] == [
        {"sourceLabels": ["__meta_kubernetes_pod_node_name"], "targetLabel": "node"}
    ]
    assert endpoint["metricRelabelings"][0]["action"] == "drop"
    plain = one(render(tools, set_values=["metrics.serviceMonitor.enabled=true"]), "ServiceMonitor")
    assert plain["metadata"]["namespace"] == NAMESPACE
    assert plain["spec"]["endpoints"][0]["honorLabels"] is False
    assert "relabelings" not in plain["spec"]["endpoints"][0]


def test_dashboard_configmap_embeds_the_dashboard_file(tools: Tools) -> None:
    objects = render(tools, CHART / "ci" / "all-features-values.yaml")
    dashboard = next(o for o in by_kind(objects, "ConfigMap") if o["metadata"]["name"].endswith("-dashboard"))
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert dashboard["metadata"]["namespace"] == "monitoring"
    expected = json.loads((CHART / "files" / "dashboards" / "halo.json").read_text())
    assert json.loads(dashboard["data"]["halo.json"]) == expected


def test_network_policy_names_every_peer_it_admits(tools: Tools) -> None:
    policy = one(render(tools, CHART / "ci" / "all-features-values.yaml"), "NetworkPolicy")
    assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    rules = {rule["ports"][0]["port"]: rule for rule in policy["spec"]["ingress"]}
    assert set(rules) == {"http", "metrics"}
    assert rules["metrics"]["from"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
        }
    ]
    assert rules["http"]["from"][0]["namespaceSelector"] == {
        "matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}
    }
    # no rule is a port alone: every one names its sources or destinations
    for rule in policy["spec"]["ingress"]:
        assert rule["from"], rule
    for rule in policy["spec"]["egress"]:
        assert rule["to"], rule
    egress = {rule["ports"][0]["port"]: rule["to"] for rule in policy["spec"]["egress"]}
    assert egress[53][0]["podSelector"] == {"matchLabels": {"k8s-app": "kube-dns"}}
    assert egress[5432] == [{"ipBlock": {"cidr": "10.20.0.0/24"}}]
    assert egress[6379] == [
        {
            "podSelector": {
                "matchLabels": {"app.kubernetes.io/name": "redis", "app.kubernetes.io/instance": "halo"}
            }
        }
    ]
    assert (
        egress[4317][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] == "observability"
    )


def test_network_policy_refuses_a_dependency_without_peers(tools: Tools) -> None:
    refused = helm_template(
        tools, set_values=["networkPolicy.enabled=true", "networkPolicy.postgresql.to=null"], check=False
    )
    assert refused.returncode != 0
    assert "networkPolicy.postgresql.to is empty" in refused.stderr
    # without an OTLP collector named, no OTLP egress at all (rather than to anywhere)
    policy = one(render(tools, set_values=["networkPolicy.enabled=true"]), "NetworkPolicy")
    assert 4317 not in {rule["ports"][0]["port"] for rule in policy["spec"]["egress"]}


@pytest.mark.parametrize("values", VALUES_CASES)
def test_every_pod_is_hardened(tools: Tools, values: Path | None) -> None:
    objects = render(tools, *values_args(values))
    for label, spec in pod_specs(objects):
        assert spec["automountServiceAccountToken"] is False, label
        assert spec["securityContext"]["runAsNonRoot"] is True, label
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", label
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, label
            assert context["allowPrivilegeEscalation"] is False, label
            assert context["capabilities"]["drop"] == ["ALL"], label
            assert context["runAsUser"] != 0, label
    for account in by_kind(objects, "ServiceAccount"):
        assert account["automountServiceAccountToken"] is False


def test_writable_paths_are_the_mounted_ones(tools: Tools) -> None:
    objects = render(tools)
    spec = one(objects, "Deployment")["spec"]["template"]["spec"]
    container = spec["containers"][0]
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert mounts == {"/tmp", "/tmp/halo-metrics"}
    assert all("emptyDir" in v for v in spec["volumes"])
    assert config_env(objects, spec, container)["PROMETHEUS_MULTIPROC_DIR"] == "/tmp/halo-metrics"


def test_selectors_stay_stable_across_upgrades(tools: Tools) -> None:
    objects = render(tools, CHART / "ci" / "all-features-values.yaml")
    selectors: list[dict[str, Any]] = [
        one(objects, "Deployment")["spec"]["selector"]["matchLabels"],
        one(objects, "Service", "halo")["spec"]["selector"],
        one(objects, "Service", "halo-metrics")["spec"]["selector"],
        one(objects, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"],
        one(objects, "ServiceMonitor")["spec"]["selector"]["matchLabels"],
    ]
    for selector in selectors:
        assert "helm.sh/chart" not in selector
        assert "app.kubernetes.io/version" not in selector
    spread = one(objects, "Deployment")["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert {c["topologyKey"] for c in spread} == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}
    assert all(c["labelSelector"]["matchLabels"] == selectors[0] for c in spread)


def test_helm_test_hook_checks_readiness_through_the_service(tools: Tools) -> None:
    objects = render(tools)
    pod = one(objects, "Pod")
    assert hooks(pod)[0] == {"test"}
    script = " ".join(pod["spec"]["containers"][0]["command"])
    service = one(objects, "Service", "halo")
    assert (
        f"http://{service['metadata']['name']}:{service['spec']['ports'][0]['port']}/health/ready" in script
    )


@pytest.mark.parametrize(
    "bad",
    [
        "secret.jwtSecret=too-short",
        "image.pullPolicy=Sometimes",
        "autoscalling.enabled=true",
        "config.extra.lowercase=x",
        "database.replicaPrimaryReadShare=1",
        "database.replicaPrimaryReadShare=1.5",
    ],
)
def test_values_schema_refuses_bad_values(tools: Tools, bad: str) -> None:
    result = helm_template(tools, set_values=[bad], check=False)
    assert result.returncode != 0
    assert "values don't meet the specifications of the schema" in result.stderr


def test_redis_cluster_is_a_value_of_its_own(tools: Tools) -> None:
    assert one(render(tools), "ConfigMap", "halo")["data"]["REDIS_CLUSTER"] == "false"
    clustered = one(render(tools, set_values=["redis.cluster=true"]), "ConfigMap", "halo")["data"]
    assert clustered["REDIS_CLUSTER"] == "true"
    refused = helm_template(tools, set_values=["config.extra.REDIS_CLUSTER=true"], check=False)
    assert refused.returncode != 0 and "managed by the chart" in refused.stderr


def test_chart_managed_variables_cannot_be_overridden_through_extra(tools: Tools) -> None:
    result = helm_template(tools, set_values=["config.extra.WORKERS=8"], check=False)
    assert result.returncode != 0
    assert "managed by the chart" in result.stderr


def _notes(tools: Tools, tmp_path: Path, *set_values: str) -> str:
    """NOTES.txt as rendered (helm template skips it and install needs a cluster): via a scratch copy."""
    chart = tmp_path / "halo"
    shutil.copytree(CHART, chart)
    shutil.copy(chart / "templates" / "NOTES.txt", chart / "files" / "notes.txt")
    (chart / "templates" / "zz-notes.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n  notes: |-\n"
        '    {{- tpl (.Files.Get "files/notes.txt") . | nindent 4 }}\n'
    )
    command: list[str | Path] = [tools.helm, "template", "halo", chart, "--namespace", NAMESPACE]
    command += ["--show-only", "templates/zz-notes.yaml", "--set", f"image.repository={IMAGE_REPOSITORY}"]
    for item in set_values:
        command += ["--set", item]
    return yaml.safe_load(tools.run(*command).stdout)["data"]["notes"]


def test_notes_tell_how_to_check_and_warn_about_a_generated_secret(tools: Tools, tmp_path: Path) -> None:
    notes = _notes(tools, tmp_path / "generated")
    assert "helm test halo -n halo" in notes
    assert "90 of PostgreSQL's max_connections 100" in notes
    assert "WARNING: JWT_SECRET was generated" in notes
    notes = _notes(tools, tmp_path / "existing", "secret.existingSecret=halo-credentials")
    assert "WARNING" not in notes


# Values documented as one row: Kubernetes structures passed through as they are.
WHOLE = {"resources", "podSecurityContext", "securityContext", "probes", "alerts"}


def _leaf_keys(values: dict[str, Any], prefix: str = "") -> list[str]:
    keys = []
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value and key not in WHOLE:
            keys += _leaf_keys(value, path + ".")
        else:
            keys.append(path)
    return keys


def test_chart_readme_documents_every_value() -> None:
    readme = (CHART / "README.md").read_text()
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    missing = [key for key in _leaf_keys(values) if f"`{key}`" not in readme]
    assert not missing, f"values missing from charts/halo/README.md: {missing}"


def test_behind_pgbouncer_the_budget_counts_the_poolers_clients_and_server_connections(
    tools: Tools, tmp_path: Path
) -> None:
    values = CHART / "ci" / "pgbouncer-values.yaml"
    objects = render(tools, values)
    assert one(objects, "ConfigMap", "halo")["data"]["DATABASE_POOLER"] == "pgbouncer"
    assert one(objects, "ConfigMap", "halo")["data"]["DATABASE_POOL_MAX"] == "8"
    # the migration Job (only) connects directly: its lock is a session's
    job = one(objects, "Job")["spec"]["template"]["spec"]["containers"][0]
    job_env = {e["name"]: e for e in job["env"]}
    ref = job_env["DATABASE_MIGRATION_URL"]["valueFrom"]["secretKeyRef"]
    hook_secret = one(objects, "Secret", ref["name"])
    assert (
        base64.b64decode(hook_secret["data"][ref["key"]]).decode()
        == "postgres://halo@halo-postgresql:5432/halo"
    )
    app = one(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert "DATABASE_MIGRATION_URL" not in {e["name"] for e in app["env"]}
    # (20 + 1 surge) pods x 2 workers x 8 = 336 client connections: far beyond max_connections 100
    # without the pooler, within its max_client_conn 400; 20 server connections + 10 reserved <= 100
    refused = helm_template(tools, values, set_values=["database.pooler=none"], check=False)
    assert "connection budget broken" in refused.stderr and "database.maxConnections 100" in refused.stderr
    refused = helm_template(
        tools, values, set_values=["database.poolerMaxClientConnections=300"], check=False
    )
    assert "336 > database.poolerMaxClientConnections 300" in refused.stderr
    refused = helm_template(tools, values, set_values=["database.poolerServerConnections=95"], check=False)
    assert "95 + reservedConnections 10 = 105 > database.maxConnections 100" in refused.stderr
    # no direct connection for the migrations: refused while they are on
    refused = helm_template(tools, values, set_values=["database.migrationUrl="], check=False)
    assert "database.migrationUrl" in refused.stderr
    assert helm_template(tools, values, set_values=["database.migrationUrl=", "migrations.enabled=false"])
    # with an existing Secret, its migration-url key
    objects = render(tools, values, set_values=["database.existingSecret=db", "database.migrationUrl="])
    job = one(objects, "Job")["spec"]["template"]["spec"]["containers"][0]
    ref = {e["name"]: e for e in job["env"]}["DATABASE_MIGRATION_URL"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "db", "key": "migration-url"}
    # without a pooler nothing changes: no DATABASE_MIGRATION_URL anywhere
    plain = render(tools)
    assert one(plain, "ConfigMap", "halo")["data"]["DATABASE_POOLER"] == "none"
    job = one(plain, "Job")["spec"]["template"]["spec"]["containers"][0]
    assert "DATABASE_MIGRATION_URL" not in {e["name"] for e in job["env"]}
    notes = _notes(
        tools, tmp_path, *[f"{k}={v}" for k, v in _flat(yaml.safe_load(values.read_text())).items()]
    )
    assert "336 of the pooler's max_client_conn 400" in notes
    assert "20 pooler server connections + 10 reserved = 30 of PostgreSQL's max_connections 100" in notes


def _flat(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat |= _flat(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def test_read_replica_urls_reach_the_pods_through_a_secret(tools: Tools) -> None:
    urls = ["postgres://halo:pw@replica-0:5432/halo", "postgres://halo:pw@replica-1:5432/halo"]
    objects = render(
        tools,
        set_values=[
            f"database.replicaUrls={{{','.join(urls)}}}",
            "database.replicaMaxLagSeconds=2",
            "database.replicaPrimaryReadShare=0.5",
        ],
    )
    app = one(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    ref = {e["name"]: e for e in app["env"]}["DATABASE_REPLICA_URLS"]["valueFrom"]["secretKeyRef"]
    secret = one(objects, "Secret", ref["name"])
    assert base64.b64decode(secret["data"][ref["key"]]).decode() == ",".join(urls)
    assert one(objects, "ConfigMap", "halo")["data"]["REPLICA_MAX_LAG_SECONDS"] == "2"
    assert one(objects, "ConfigMap", "halo")["data"]["REPLICA_PRIMARY_READ_SHARE"] == "0.5"
    assert "replica-0" not in json.dumps([o for o in objects if o["kind"] != "Secret"])  # only in the Secret
    # none by default; with an existing Secret, its replica-urls key if it has one
    plain = one(render(tools), "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert "DATABASE_REPLICA_URLS" not in {e["name"] for e in plain["env"]}
    existing = render(tools, set_values=["database.existingSecret=db"])
    app = one(existing, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    ref = {e["name"]: e for e in app["env"]}["DATABASE_REPLICA_URLS"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "db", "key": "replica-urls", "optional": True}
    refused = helm_template(tools, set_values=["database.replicaUrls={mysql://replica/halo}"], check=False)
    assert refused.returncode != 0


def test_the_budget_counts_each_read_replica_with_its_probe(tools: Tools, tmp_path: Path) -> None:
    replicas = (
        "database.replicaUrls={postgres://halo@replica-0:5432/halo,postgres://halo@replica-1:5432/halo}"
    )
    # defaults: (4 + 1) pods x 2 workers x (8 + 1) + 10 = 100 <= 100 on each replica
    assert helm_template(tools, set_values=[replicas])
    refused = helm_template(tools, set_values=[replicas, "database.replicaMaxConnections=99"], check=False)
    assert "each read replica" in refused.stderr
    assert "= 100 > database.replicaMaxConnections 99" in refused.stderr
    # the primary's budget alone would pass: it is the replicas' probe connections that do not fit
    assert helm_template(tools, set_values=["database.replicaMaxConnections=99"])
    notes = _notes(tools, tmp_path, replicas)
    assert "Each of the 2 read replicas: 100 connections" in notes
    assert "read replicas" not in _notes(tools, tmp_path / "none")
