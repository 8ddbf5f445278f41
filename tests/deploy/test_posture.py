"""Posture scan of the rendered chart (checkov): no failed check without a written reason."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.conftest import CI_VALUES, ROOT, Tools, helm_template

SKIPS = ROOT / "tools" / "checkov-skips.yaml"


def _skips() -> dict[str, dict[str, str]]:
    return yaml.safe_load(SKIPS.read_text())


def test_every_skipped_check_has_a_reason() -> None:
    for framework, checks in _skips().items():
        for check, reason in (checks or {}).items():
            assert check.startswith("CKV"), f"{framework}: {check}"
            assert isinstance(reason, str), f"{framework}: {check} needs a reason"
            assert len(reason.split()) >= 8, f"{framework}: {check} needs a reason"


def _scan(tools: Tools, directory: Path) -> list[dict[str, Any]]:
    skips = _skips()["kubernetes"]
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
        "--quiet",
        "--output",
        "json",
        check=False,
    )
    reports = json.loads(result.stdout) if result.stdout.strip() else []
    return reports if isinstance(reports, list) else [reports]


def test_rendered_chart_passes_checkov(tools: Tools, tmp_path: Path) -> None:
    renders = {"default": helm_template(tools).stdout}
    for values in CI_VALUES:
        renders[values.stem] = helm_template(tools, values).stdout
    for name, text in renders.items():
        (tmp_path / f"{name}.yaml").write_text(text)
    reports = _scan(tools, tmp_path)
    assert reports, "checkov produced no report"
    failed = [
        f"{check['check_id']} {check['resource']} ({check['file_path']}): {check['check_name']}"
        for report in reports
        for check in report["results"].get("failed_checks", [])
    ]
    assert not failed, "\n".join(failed)
    passed = sum(report["summary"]["passed"] for report in reports)
    assert passed > 100
    # object-level skips are annotated on the object with their reason
    skipped = [check for report in reports for check in report["results"].get("skipped_checks", [])]
    for check in skipped:
        assert check.get("suppress_comment"), f"{check['check_id']} skipped without a reason"
