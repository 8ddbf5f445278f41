"""docs/operations.md's configuration table and the settings the service reads match, both ways."""

from __future__ import annotations

import re
from pathlib import Path

from halo.config import Settings

OPERATIONS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def documented_variables() -> set[str]:
    """The variables named in the first column of the table under '## Configuration'."""
    text = OPERATIONS.read_text()
    assert "\n## Configuration\n" in text, "docs/operations.md has no '## Configuration' section"
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    documented = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            documented.update(re.findall(r"`([A-Z][A-Z0-9_]+)`", line.split("|")[1]))
    return documented


def settings() -> set[str]:
    return {name.upper() for name in Settings.model_fields}


def test_every_setting_has_a_row_in_the_configuration_table() -> None:
    missing = sorted(settings() - documented_variables())
    assert not missing, f"settings missing from docs/operations.md's configuration table: {missing}"


def test_every_row_of_the_configuration_table_is_a_setting() -> None:
    unknown = sorted(documented_variables() - settings())
    assert not unknown, f"rows of docs/operations.md's configuration table that no setting reads: {unknown}"
