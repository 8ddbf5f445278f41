"""The chart values of docs/capacity.md's steps (charts/halo/examples/capacity-*.yaml) render, lint and
give the pods, workers, pools and Redis mode the model sized."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.deploy.conftest import CHART, ROOT, Tools, config_env, helm_template, one, render

EXAMPLES = sorted((CHART / "examples").glob("capacity-*.yaml"))


def test_every_step_has_its_example() -> None:
    assert {p.stem for p in EXAMPLES} == {"capacity-10k", "capacity-100k", "capacity-1m"}


@pytest.mark.parametrize("values", EXAMPLES, ids=lambda p: p.stem)
def test_example_lints_and_renders_valid_objects(tools: Tools, values: Path, tmp_path: Path) -> None:
    assert "0 chart(s) failed" in tools.run(tools.helm, "lint", "--strict", CHART, "--values", values).stdout
    rendered = tmp_path / "rendered.yaml"
    rendered.write_text(helm_template(tools, values).stdout)
    result = tools.run(
        tools.python,
        ROOT / "tools" / "validate_manifests.py",
        "--node-modules",
        tools.node_modules,
        rendered,
    )
    assert "objects valid" in result.stdout


@pytest.mark.parametrize("values", EXAMPLES, ids=lambda p: p.stem)
def test_example_gives_the_sized_deployment(tools: Tools, values: Path) -> None:
    wanted = yaml.safe_load(values.read_text())
    objects = render(tools, values)
    hpa = one(objects, "HorizontalPodAutoscaler")
    assert hpa["spec"]["minReplicas"] == wanted["autoscaling"]["minReplicas"]
    assert hpa["spec"]["maxReplicas"] == wanted["autoscaling"]["maxReplicas"]
    deployment = one(objects, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    # one worker a core: the CPU request is the worker count
    assert str(container["resources"]["requests"]["cpu"]) == str(wanted["workers"])
    env = config_env(objects, pod, container)
    assert env["WORKERS"] == str(wanted["workers"])
    assert env["DATABASE_POOL_MAX"] == str(wanted["database"]["poolMax"])
    assert env.get("REDIS_CLUSTER", "false") == str(wanted["redis"].get("cluster", False)).lower()
    # every step runs behind PgBouncer: the pods' pools at the HPA's ceiling plus the surge fit its
    # max_client_conn, its server connections (plus the reserved ones) PostgreSQL's max_connections
    database = wanted["database"]
    assert database["pooler"] == env["DATABASE_POOLER"] == "pgbouncer"
    workers = (wanted["autoscaling"]["maxReplicas"] + wanted["rollingUpdate"]["maxSurge"]) * wanted["workers"]
    assert workers * database["poolMax"] <= database["poolerMaxClientConnections"]
    assert database["poolerServerConnections"] + database["reservedConnections"] <= database["maxConnections"]
