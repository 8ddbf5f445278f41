"""docker-compose.yml against the compose specification, skaffold.yaml against the v4beta13 fields it uses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.deploy.conftest import CHART, ROOT, Tools, one, render

COMPOSE = ROOT / "docker-compose.yml"
SKAFFOLD = ROOT / "skaffold.yaml"
# The project's own statement of the skaffold/v4beta13 fields skaffold.yaml uses (no schema is published in a registry).
SKAFFOLD_FIELDS = Path(__file__).parent / "schemas" / "skaffold-v4beta13-fields.schema.json"


def _compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_file_follows_the_compose_specification(tools: Tools) -> None:
    result = tools.run(tools.tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", COMPOSE)
    assert "ok" in result.stdout


def test_api_waits_for_healthy_dependencies_and_a_finished_migration() -> None:
    services = _compose()["services"]
    assert services["migrate"]["command"] == ["migrate"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    depends = services["api"]["depends_on"]
    assert depends["postgres"]["condition"] == "service_healthy"
    assert depends["redis"]["condition"] == "service_healthy"
    assert depends["migrate"]["condition"] == "service_completed_successfully"
    for name in ("postgres", "redis", "api"):
        assert services[name]["healthcheck"]["test"], name


def test_api_runs_like_in_the_cluster() -> None:
    api = _compose()["services"]["api"]
    assert api["read_only"] is True
    assert api["user"].split(":")[0] == "10001"
    mounts = {entry.split(":")[0] for entry in api["tmpfs"]}
    assert mounts == {"/tmp", "/tmp/halo-metrics"}
    assert api["environment"]["PROMETHEUS_MULTIPROC_DIR"] == "/tmp/halo-metrics"
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" in api["environment"]


def test_compose_runs_in_development_mode_and_publishes_no_secret() -> None:
    services = _compose()["services"]
    for name in ("migrate", "api"):
        env = services[name]["environment"]
        assert env["ENV"] == "development", name
        # passed through from the shell when exported, else unset: no literal secret in the repository
        assert env["JWT_SECRET"] is None, name


def test_observability_profile_scrapes_metrics_and_provisions_the_dashboard() -> None:
    services = _compose()["services"]
    for name in ("prometheus", "grafana", "jaeger"):
        assert services[name]["profiles"] == ["observability"], name
    for name in ("postgres", "redis", "migrate", "api"):
        assert "profiles" not in services[name], name
    assert services["jaeger"]["environment"]["COLLECTOR_OTLP_ENABLED"] == "true"
    prometheus = yaml.safe_load((ROOT / "deploy" / "compose" / "prometheus.yml").read_text())
    targets = prometheus["scrape_configs"][0]["static_configs"][0]["targets"]
    metrics_port = services["api"]["ports"][1].rsplit(":", 1)[1]
    assert targets == [f"api:{metrics_port}"]
    assert prometheus["scrape_configs"][0]["metrics_path"] == "/metrics"
    dashboards = [v for v in services["grafana"]["volumes"] if v.startswith("./charts/halo/files/dashboards")]
    assert dashboards, "Grafana must load the chart's dashboard"
    for volume in services["grafana"]["volumes"] + services["prometheus"]["volumes"]:
        assert (ROOT / volume.split(":")[0]).exists(), volume


def test_compose_prometheus_labels_its_target_as_the_alert_rules_select_it() -> None:
    """The rules name a release "halo" in namespace "halo" (charts/halo/files/alerts/halo-rules.yaml)."""
    prometheus = yaml.safe_load((ROOT / "deploy" / "compose" / "prometheus.yml").read_text())
    labels = prometheus["scrape_configs"][0]["static_configs"][0]["labels"]
    assert labels == {"namespace": "halo", "service": "halo-metrics"}
    rules = (CHART / "files" / "alerts" / "halo-rules.yaml").read_text()
    assert 'namespace="halo", service="halo-metrics"' in rules
    volumes = _compose()["services"]["prometheus"]["volumes"]
    assert any(v.startswith("./charts/halo/files/alerts/halo-rules.yaml:") for v in volumes)


def test_skaffold_config_uses_only_known_v4beta13_fields(tools: Tools) -> None:
    result = tools.run(tools.tool("check-jsonschema"), "--schemafile", SKAFFOLD_FIELDS, SKAFFOLD)
    assert "ok" in result.stdout


def test_the_skaffold_field_check_catches_a_typo_and_a_wrong_value(tools: Tools, tmp_path: Path) -> None:
    config = yaml.safe_load(SKAFFOLD.read_text())
    config["profiles"][0]["deploy"]["helm"]["releases"][0]["chartPth"] = "charts/halo"
    config["build"]["tagPolicy"]["gitCommit"]["variant"] = "ShortSha"
    broken = tmp_path / "skaffold.yaml"
    broken.write_text(yaml.safe_dump(config))
    result = tools.run(tools.tool("check-jsonschema"), "--schemafile", SKAFFOLD_FIELDS, broken, check=False)
    assert result.returncode != 0
    assert "chartPth" in result.stdout
    assert "ShortSha" in result.stdout


def test_nothing_deployable_refers_outside_the_repository() -> None:
    """A clone alone builds, deploys and passes its tests: no ../ path leaves the repository."""
    owned = [
        ROOT / "Dockerfile",
        ROOT / ".dockerignore",
        ROOT / "docker-compose.yml",
        ROOT / "skaffold.yaml",
        *(ROOT / "charts").rglob("*"),
        *(ROOT / "k8s").rglob("*"),
        *(ROOT / "deploy").rglob("*"),
        *(ROOT / "tools").glob("*.*"),
        *Path(__file__).parent.rglob("*.py"),
    ]
    for path in owned:
        if path.is_file():
            assert "shared/" + "schemas" not in path.read_text(), path
            assert "../" + "shared" not in path.read_text(), path


def test_skaffold_builds_the_image_and_deploys_the_chart_in_dev_and_prod() -> None:
    config = yaml.safe_load(SKAFFOLD.read_text())
    assert config["apiVersion"] == "skaffold/v4beta13"
    artifact = config["build"]["artifacts"][0]
    assert (ROOT / artifact["docker"]["dockerfile"]).exists()
    profiles = {p["name"]: p for p in config["profiles"]}
    assert set(profiles) == {"dev", "prod"}
    for deploy in [config["deploy"], *(p["deploy"] for p in profiles.values())]:
        release = deploy["helm"]["releases"][0]
        assert ROOT / release["chartPath"] == CHART
        assert release["setValueTemplates"]["image.repository"] == "{{.IMAGE_REPO_halo}}"
    for path in profiles["dev"]["manifests"]["kustomize"]["paths"]:
        assert (ROOT / path / "kustomization.yaml").exists()
    prod = profiles["prod"]["deploy"]["helm"]["releases"][0]["setValues"]
    # every credential from the Secret managed outside the chart, none from the chart's defaults
    for value in ("secret.existingSecret", "database.existingSecret", "redis.existingSecret"):
        assert prod[value] == "halo-credentials", value


def test_every_skaffold_release_renders_with_the_chart(tools: Tools) -> None:
    config = yaml.safe_load(SKAFFOLD.read_text())
    built = {
        "{{.IMAGE_REPO_halo}}": "registry.example.com/halo",
        "{{.IMAGE_TAG_halo}}": "abc1234",
        "{{.IMAGE_DIGEST_halo}}": "sha256:" + "1" * 64,
    }
    deploys = [config["deploy"], *(p["deploy"] for p in config["profiles"])]
    for deploy in deploys:
        release = deploy["helm"]["releases"][0]
        values = [f"{k}={built[v]}" for k, v in release["setValueTemplates"].items()]
        values += [
            f"{k}={str(v).lower() if isinstance(v, bool) else v}"
            for k, v in release.get("setValues", {}).items()
        ]
        objects = render(tools, set_values=values)
        assert one(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]["image"].startswith(
            "registry.example.com/halo"
        )


def test_a_skaffold_profile_with_a_literal_jwt_secret_runs_in_development_mode() -> None:
    config = yaml.safe_load(SKAFFOLD.read_text())
    for deploy in [config["deploy"], *(p["deploy"] for p in config["profiles"])]:
        for release in deploy["helm"]["releases"]:
            values = release.get("setValues", {})
            if values.get("secret.jwtSecret"):
                assert values.get("config.env") == "development", release["name"]
