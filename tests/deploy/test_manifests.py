"""Plain manifests (k8s/): each overlay renders with kustomize into valid Kubernetes 1.30 objects."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from tests.deploy.conftest import (
    OVERLAYS,
    ROOT,
    Tools,
    by_kind,
    config_env,
    kustomize,
    one,
    validate_manifests,
)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_objects_are_valid_kubernetes_1_30(tools: Tools, overlay: str, tmp_path: Path) -> None:
    rendered = tmp_path / f"{overlay}.yaml"
    rendered.write_text(tools.run(tools.kubectl, "kustomize", ROOT / "k8s" / "overlays" / overlay).stdout)
    assert "objects valid" in validate_manifests(tools, rendered).stdout


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_keeps_the_runtime_contract(tools: Tools, overlay: str) -> None:
    objects = kustomize(tools, overlay)
    deployment = one(objects, "Deployment", "halo")
    spec = deployment["spec"]["template"]["spec"]
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert [c["args"][0] for c in spec["initContainers"]] == ["migrate"]
    container = spec["containers"][0]
    env = config_env(objects, spec, container)
    drain = (
        int(container["lifecycle"]["preStop"]["exec"]["command"][1])
        + float(env["SHUTDOWN_DELAY_SECONDS"])
        + float(env["SHUTDOWN_TIMEOUT_SECONDS"])
    )
    assert spec["terminationGracePeriodSeconds"] > drain
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert {m["mountPath"] for m in container["volumeMounts"]} == {"/tmp", "/tmp/halo-metrics"}
    hpa = one(objects, "HorizontalPodAutoscaler")
    pods = hpa["spec"]["maxReplicas"] + deployment["spec"]["strategy"]["rollingUpdate"]["maxSurge"]
    # the budget in k8s/overlays/prod/kustomization.yaml: PostgreSQL's default max_connections, 10 reserved
    assert pods * int(env["WORKERS"]) * int(env["DATABASE_POOL_MAX"]) + 10 <= 100


def test_prod_expects_an_externally_managed_secret(tools: Tools) -> None:
    objects = kustomize(tools, "prod")
    assert not by_kind(objects, "Secret")
    spec = one(objects, "Deployment", "halo")["spec"]["template"]["spec"]
    names = {e["valueFrom"]["secretKeyRef"]["name"] for e in spec["containers"][0]["env"] if "valueFrom" in e}
    assert names == {"halo-secrets"}
    assert one(objects, "NetworkPolicy")


def test_dev_brings_its_own_database_and_redis(tools: Tools) -> None:
    objects = kustomize(tools, "dev")
    services = {s["metadata"]["name"] for s in by_kind(objects, "Service")}
    assert {"halo", "halo-postgres", "halo-redis"} <= services
    secret = one(objects, "Secret")
    spec = one(objects, "Deployment", "halo")["spec"]["template"]["spec"]
    names = {e["valueFrom"]["secretKeyRef"]["name"] for e in spec["containers"][0]["env"] if "valueFrom" in e}
    assert names == {secret["metadata"]["name"]}


def test_dev_overlay_runs_in_development_mode_with_its_published_secret(tools: Tools) -> None:
    objects = kustomize(tools, "dev")
    spec = one(objects, "Deployment", "halo")["spec"]["template"]["spec"]
    env = config_env(objects, spec, spec["containers"][0])
    assert env["ENV"] == "development"


def test_prod_overlay_trusts_forwarded_headers_from_its_ingress_only(tools: Tools) -> None:
    objects = kustomize(tools, "prod")
    spec = one(objects, "Deployment", "halo")["spec"]["template"]["spec"]
    env = config_env(objects, spec, spec["containers"][0])
    assert env["ENV"] == "production"
    networks = [ipaddress.ip_network(n.strip()) for n in env["TRUSTED_PROXIES"].split(",")]
    assert networks and all(n.prefixlen > 0 for n in networks), "0.0.0.0/0 would trust any client"
    # HTTP is admitted from the ingress controller's namespace only: the proxies the setting names
    policy = one(objects, "NetworkPolicy")
    http = next(rule for rule in policy["spec"]["ingress"] if rule["ports"][0]["port"] == "http")
    assert http["from"] and all("namespaceSelector" in peer for peer in http["from"])
