"""docs/operations.md's metrics table lists exactly the families the service declares, each with
its type."""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.metrics import declared_families

OPERATIONS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def documented_families(text: str) -> dict[str, str]:
    """Family name as scraped (a counter without `_total`) -> type, from the Metrics section's table."""
    section = text.split("\n## Metrics\n", 1)[1].split("\n## ", 1)[0]
    families = {}
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        cells = [cell.strip() for cell in line.split("|")]
        kind = cells[2]
        for name in re.findall(r"`([a-z_]+)`", cells[1]):
            if kind == "counter" and name.endswith("_total"):
                name = name.removesuffix("_total")
            families[name] = kind
    return families


def test_the_table_is_read() -> None:
    families = documented_families(OPERATIONS.read_text())
    assert families["http_server_request_duration_seconds"] == "histogram"
    assert families["halo_view_flush_videos"] == "counter"  # the third name of a shared row


def test_every_declared_metric_is_documented_with_its_type_and_nothing_else() -> None:
    assert documented_families(OPERATIONS.read_text()) == declared_families()
