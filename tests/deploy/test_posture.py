"""Posture scan of the rendered chart (checkov): no failed check without a written reason."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import CI_VALUES, ROOT, Tools, documents, helm_template

SKIPS = ROOT / "tools" / "checkov-skips.yaml"


def _skips() -> dict[str, dict[str, str]]:
    return yaml.safe_load(SKIPS.read_text())


def test_every_skipped_check_has_a_reason() -> None:
    for framework, checks in _skips().items():
        for check, reason in (checks or {}).items():
            assert check.startswith("CKV"), f"{framework}: {check}"
            assert isinstance(reason, str), f"{framework}: {check} needs a reason"
            assert len(reason.split()) >= 8, f"{framework}: {check} needs a reason"


def _scan(tools: Tools, directory: Path, skips: dict[str, str]) -> dict[str, Any]:
    result = tools.run(
        tools.tool("checkov"),
        "--directory",
        directory,
        "--framework",
        "kubernetes",
        "--skip-check",
        ",".join(skips),
        "--skip-download",
        "--compact",
        "--output",
        "json",
        check=False,
    )
    report = json.loads(result.stdout)
    assert isinstance(report, dict), "one report expected for one framework"
    return report


@pytest.mark.parametrize("values", [None, *CI_VALUES], ids=["default", *(p.stem for p in CI_VALUES)])
def test_rendered_chart_passes_checkov(tools: Tools, values: Path | None, tmp_path: Path) -> None:
    # One render a scan: graph checks (a NetworkPolicy covering a pod) must not see another render's objects.
    text = helm_template(tools, *(() if values is None else (values,))).stdout
    (tmp_path / "rendered.yaml").write_text(text)
    skips = dict(_skips()["kubernetes"])
    if not any(doc["kind"] == "NetworkPolicy" for doc in documents(text)):
        skips.update(_skips()["kubernetes-without-network-policy"])
    report = _scan(tools, tmp_path, skips)
    failed = [
        f"{check['check_id']} {check['resource']}: {check['check_name']}"
        for check in report["results"].get("failed_checks", [])
    ]
    assert not failed, "\n".join(failed)
    assert report["summary"]["passed"] > 100
    # object-level skips are annotated on the object with their reason
    for check in report["results"].get("skipped_checks", []):
        if check["check_id"] not in skips:
            reason = check["check_result"].get("suppress_comment", "")
            assert len(reason.split()) >= 8, f"{check['check_id']} skipped without a reason"


def test_the_scan_catches_a_weakened_pod(tools: Tools, tmp_path: Path) -> None:
    text = helm_template(tools, set_values=["securityContext.readOnlyRootFilesystem=false"]).stdout
    (tmp_path / "weak.yaml").write_text(text)
    report = _scan(tools, tmp_path, _skips()["kubernetes"])
    failed = {check["check_id"] for check in report["results"].get("failed_checks", [])}
    assert "CKV_K8S_22" in failed  # read-only root filesystem
