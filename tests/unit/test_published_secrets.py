"""Every JWT_SECRET value written anywhere in the repository is refused in production.

The package ships only their SHA-256 digests (halo/published_secrets.py); this test greps the
repository for such values and names the digest to add when one is missing."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from pydantic import ValidationError

from halo.config import MIN_SECRET_BYTES, Settings
from halo.published_secrets import PUBLISHED, digest

ROOT = Path(__file__).resolve().parents[2]

# JWT_SECRET=v, JWT_SECRET: v, "JWT_SECRET": "v" (Python, JSON), ${JWT_SECRET:-v}, jwt-secret=v
# (kustomize), jwtSecret: v (Helm), DEV_JWT_SECRET = "v", jwt_secret="v", --set secret.jwtSecret=v
PATTERNS = [
    re.compile(r"JWT_(?:PREVIOUS_)?SECRETS?[\"']?\s*[:=]\s*[\"']?([^\s\"'`$|{}()<>,]+)"),
    re.compile(r"\$\{JWT_SECRET:-([^}]+)\}"),
    re.compile(r"jwt-secret\s*=\s*[\"']?([^\s\"'$]+)"),
    re.compile(r"jwtSecret\s*[:=]\s*[\"']?([^\s\"'#$]+)"),
    re.compile(r"DEV_JWT_SECRET\s*=\s*[\"']([^\"']+)[\"']"),
    re.compile(r"jwt_secret\s*=\s*[\"']([^\"']+)[\"']"),
]


def repository_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split("\n")
    return [ROOT / name for name in listed if name and (ROOT / name).is_file()]


def secrets_in_repository() -> dict[str, str]:
    """Every value long enough to be accepted as a secret -> the file it is in."""
    found: dict[str, str] = {}
    for path in repository_files():
        try:
            text = path.read_text()
        except (UnicodeDecodeError, OSError):
            continue
        for pattern in PATTERNS:
            for value in pattern.findall(text):
                if len(value.encode()) >= MIN_SECRET_BYTES:
                    found.setdefault(value, str(path.relative_to(ROOT)))
    return found


def test_every_secret_written_in_the_repository_is_in_the_published_list() -> None:
    found = secrets_in_repository()
    assert found, "the grep found nothing: its patterns no longer match the repository"
    missing = {where: digest(value) for value, where in found.items() if digest(value) not in PUBLISHED}
    assert not missing, f"add these digests to halo/published_secrets.py: {missing}"


def test_production_refuses_every_secret_written_in_the_repository() -> None:
    for value in secrets_in_repository():
        with pytest.raises(ValidationError, match="published"):
            Settings(env="production", jwt_secret=value)  # type: ignore[call-arg]
