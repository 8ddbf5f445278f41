"""Every setting the service reads has a row in the README's configuration table."""

from __future__ import annotations

import re
from pathlib import Path

from halo.config import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_is_in_the_readme_configuration_table() -> None:
    text = README.read_text()
    section = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    documented = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            documented.update(re.findall(r"`([A-Z][A-Z0-9_]+)`", line.split("|")[1]))
    missing = sorted(name.upper() for name in Settings.model_fields if name.upper() not in documented)
    assert not missing, f"settings missing from the README's configuration table: {missing}"
