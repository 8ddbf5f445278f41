"""The Redoc bundle /docs serves is npm's redoc 2.5.4, byte for byte, with its licence files.

To check again or move to another version: `npm pack redoc@<version>` and compare
package/bundles/redoc.standalone.js, package/LICENSE and
package/bundles/redoc.standalone.js.LICENSE.txt with service/halo/api/static/.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

STATIC = Path(__file__).resolve().parents[2] / "service" / "halo" / "api" / "static"
# sha256 of the files in redoc-2.5.4.tgz from registry.npmjs.org
PUBLISHED = {
    "redoc.standalone.js": "dcaf76612bc4a3fbcc923a8966dee2f6146a5f32e5ce1b6f02dd60cbbf89500b",
    "redoc.LICENSE": "d3026d549cf68ab7355bcfa85877bf8f845b3334a7efbfdc63936432fb34ff0e",
    "redoc.standalone.js.LICENSE.txt": "eed602ec32e00b2b9df1984fbcc26a687b1b3193ec01961389c4b8439e6edf73",
}


def test_the_vendored_files_are_the_published_ones() -> None:
    changed = {
        name: digest
        for name, digest in PUBLISHED.items()
        if hashlib.sha256((STATIC / name).read_bytes()).hexdigest() != digest
    }
    assert not changed, f"not npm's redoc 2.5.4: {sorted(changed)}"


def test_the_docs_module_names_the_version_it_vendors() -> None:
    source = (STATIC.parent / "docs.py").read_text()
    assert "npm `redoc` 2.5.4" in source
