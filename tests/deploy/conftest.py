"""Packaging checks: the chart, the plain manifests, the image, compose and skaffold.

The tools come from `make tools` (.tools/); `make test` installs them first.
Under CI=true a missing tool fails the run; elsewhere the test is skipped with
the command that installs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "halo"
CI_VALUES = sorted((CHART / "ci").glob("*.yaml"))
OVERLAYS = ["dev", "prod"]
TOOLS = ROOT / ".tools"
KUBERNETES_VERSION = "1.30.0"
NAMESPACE = "halo"
RELEASE = "halo"
# The chart has no image default: the tests' renders name this one.
IMAGE_REPOSITORY = "registry.example.com/team/halo"


def require(path: Path | None, what: str, hint: str = "run `make tools`") -> Path:
    if path is not None and path.exists():
        return path
    message = f"{what} is missing ({hint})"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@dataclass(frozen=True)
class Tools:
    helm: Path
    kubectl: Path
    python: Path
    node_modules: Path

    def tool(self, name: str) -> Path:
        """An executable of the tools virtualenv (checkov, check-jsonschema)."""
        return require(self.python.parent / name, name)

    def run(self, *command: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(part) for part in command],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            cwd=ROOT,
            env={**os.environ, "HELM_CACHE_HOME": str(TOOLS / "helm-cache")},
        )
        if check and result.returncode != 0:
            pytest.fail(
                f"{' '.join(map(str, command))} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
            )
        return result


@pytest.fixture(scope="session")
def tools() -> Tools:
    node = shutil.which("node")
    require(Path(node) if node else None, "node", "install Node.js 18+")
    return Tools(
        helm=require(TOOLS / "bin" / "helm", "helm"),
        kubectl=require(TOOLS / "bin" / "kubectl", "kubectl"),
        python=require(TOOLS / "venv" / "bin" / "python", "the deploy tools virtualenv"),
        node_modules=require(TOOLS / "npm" / "node_modules", "the npm deploy tools"),
    )


def helm_template(
    tools: Tools,
    *values_files: Path,
    set_values: Iterable[str] = (),
    check: bool = True,
    bare: bool = False,
    release: str = RELEASE,
    namespace: str = NAMESPACE,
) -> subprocess.CompletedProcess[str]:
    """`helm template`; without a values file the image repository the chart requires is set
    (IMAGE_REPOSITORY), unless `bare` asks for the chart's defaults alone."""
    set_values = list(set_values)
    command: list[str | Path] = [tools.helm, "template", release, CHART, "--namespace", namespace]
    if not bare and not values_files and not any(s.startswith("image.repository=") for s in set_values):
        set_values.insert(0, f"image.repository={IMAGE_REPOSITORY}")
    for path in values_files:
        command += ["--values", path]
    for item in set_values:
        command += ["--set", item]
    return tools.run(*command, check=check)


def validate_manifests(
    tools: Tools, path: Path, *, kubernetes_version: str | None = KUBERNETES_VERSION, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """tools/validate_manifests.py on the manifests in `path` (with `kubernetes_version`'s schemas, if one)."""
    version = ("--kubernetes-version", kubernetes_version) if kubernetes_version else ()
    return tools.run(
        tools.python,
        ROOT / "tools" / "validate_manifests.py",
        *version,
        "--node-modules",
        tools.node_modules,
        path,
        check=check,
    )


def documents(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def render(tools: Tools, *values_files: Path, set_values: Iterable[str] = ()) -> list[dict[str, Any]]:
    return documents(helm_template(tools, *values_files, set_values=set_values).stdout)


def kustomize(tools: Tools, overlay: str) -> list[dict[str, Any]]:
    return documents(tools.run(tools.kubectl, "kustomize", ROOT / "k8s" / "overlays" / overlay).stdout)


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [obj for obj in objects if obj["kind"] == kind]


def one(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [obj for obj in by_kind(objects, kind) if name is None or obj["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def hooks(obj: dict[str, Any]) -> tuple[set[str], int]:
    annotations = obj["metadata"].get("annotations") or {}
    events = {e for e in annotations.get("helm.sh/hook", "").split(",") if e}
    return events, int(annotations.get("helm.sh/hook-weight", "0"))


def config_env(
    objects: list[dict[str, Any]], pod_spec: dict[str, Any], container: dict[str, Any]
) -> dict[str, str]:
    """The environment a container gets from the rendered ConfigMaps (envFrom) and literal env values.

    Sources outside the render (extraEnvVarsCM, extraEnvVarsSecret) are the operator's: not read here."""
    env: dict[str, str] = {}
    rendered = {obj["metadata"]["name"] for obj in by_kind(objects, "ConfigMap")}
    for source in container.get("envFrom", []):
        name = source.get("configMapRef", {}).get("name")
        if name in rendered:
            env.update(one(objects, "ConfigMap", name)["data"])
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
    return env


def pod_specs(objects: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    specs = []
    for obj in objects:
        label = f"{obj['kind']}/{obj['metadata']['name']}"
        if obj["kind"] in ("Deployment", "Job"):
            specs.append((label, obj["spec"]["template"]["spec"]))
        elif obj["kind"] == "Pod":
            specs.append((label, obj["spec"]))
    return specs
