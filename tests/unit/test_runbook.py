"""docs/runbook.md: one entry per shipped alert, each saying what it means, where to look first
and what fixes it."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
RUNBOOK = ROOT / "docs" / "runbook.md"
RULES = ROOT / "charts" / "halo" / "files" / "alerts" / "halo-rules.yaml"
PARTS = ("**Means:**", "**First look:**", "**Fixes:**")


def entries(text: str) -> dict[str, str]:
    """Each `## Name` heading with the text up to the next one."""
    pieces = re.split(r"^## (\S+)\s*$", text, flags=re.MULTILINE)
    return dict(zip(pieces[1::2], pieces[2::2], strict=True))


def missing_parts(body: str) -> list[str]:
    return [part for part in PARTS if not re.search(rf"^{re.escape(part)}\s+\S", body, re.MULTILINE)]


def test_one_entry_per_alert_and_no_other() -> None:
    alerts = [r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    assert len(alerts) == len(set(alerts)) > 0
    assert sorted(entries(RUNBOOK.read_text())) == sorted(alerts)


def test_every_entry_says_what_it_means_where_to_look_and_what_fixes_it() -> None:
    incomplete = {
        name: missing
        for name, body in entries(RUNBOOK.read_text()).items()
        if (missing := missing_parts(body))
    }
    assert not incomplete, incomplete


def test_an_entry_without_its_fixes_is_found() -> None:
    body = "\n**Means:** the thing.\n\n**First look:** the panel.\n"
    assert missing_parts(body) == ["**Fixes:**"]
    assert missing_parts(body + "\n**Fixes:** roll back.\n") == []
