"""The documentation's relative links resolve, and the repository stands alone.

Every relative link in README.md, docs/*.md and charts/halo/README.md names a
file of the repository and, for `file.md#anchor` or `#anchor`, a heading of
that file (GitHub's slugs). No tracked file refers to a sibling directory of
the checkout, nor names the checkout's own absolute path (a clone elsewhere would
not have it).
"""

from __future__ import annotations

import re
import subprocess
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = sorted(
    [ROOT / "README.md", ROOT / "charts" / "halo" / "README.md", *(ROOT / "docs").glob("*.md")]
)
# Built from pieces so that this file does not name what it looks for.
OUTSIDE_REFERENCES = ("../" + "shared", "/work/" + "shared")

FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_DEFINITION = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
INLINE_CODE = re.compile(r"(`+)(.+?)\1")


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks, with inline code spans blanked out."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def links(path: Path) -> list[str]:
    targets = []
    for line in prose_lines(path.read_text()):
        # Blank out code spans (same length) to tell links in prose from link syntax inside code.
        without_code = INLINE_CODE.sub(lambda m: m.group(1) + "x" * len(m.group(2)) + m.group(1), line)
        for match in INLINE_LINK.finditer(line):
            start = match.start()
            if without_code[start] in "[!":
                targets.append(match.group(1))
        definition = REFERENCE_DEFINITION.match(line)
        if definition:
            targets.append(definition.group(1))
    return targets


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = INLINE_CODE.sub(lambda m: m.group(2), heading)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link's text stays
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML goes
    text = text.strip().lower()
    kept = []
    for char in text:
        if char in (" ", "-", "_") or unicodedata.category(char)[0] in ("L", "N", "M"):
            kept.append(char)
    return "".join(kept).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    result = set()
    for line in prose_lines(path.read_text()):
        match = HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        result.add(base if count == 0 else f"{base}-{count}")
    return result


def is_external(target: str) -> bool:
    return bool(re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target)) or target.startswith("//")


def broken_links(document: Path) -> list[str]:
    problems = []
    for target in links(document):
        if is_external(target):
            continue
        location, _, anchor = target.partition("#")
        if location:
            resolved = (document.parent / location).resolve()
            if not resolved.is_relative_to(ROOT):
                problems.append(f"{target}: outside the repository")
                continue
            if not resolved.exists():
                problems.append(f"{target}: no such file")
                continue
        else:
            resolved = document
        if anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            problems.append(f"{target}: no heading '{anchor}' in {resolved.relative_to(ROOT)}")
    return problems


def test_the_documents_are_there() -> None:
    names = {d.relative_to(ROOT).as_posix() for d in DOCUMENTS}
    assert {"README.md", "docs/api.md", "docs/operations.md", "docs/benchmarks.md"} <= names


def test_slugs_follow_github() -> None:
    assert slug("Live engagement over WebSocket") == "live-engagement-over-websocket"
    assert slug("(v1.1) Comments") == "v11-comments"
    assert slug("A warm detail read: `GET /api/v1/videos/42`") == "a-warm-detail-read-get-apiv1videos42"
    assert slug("HaloHighErrorRatio") == "halohigherrorratio"
    assert slug("10,000 concurrent keep-alive connections (1 worker)") == (
        "10000-concurrent-keep-alive-connections-1-worker"
    )


def test_links_are_found_outside_code_only() -> None:
    sample = ROOT / "README.md"
    found = links(sample)
    assert "docs/api.md" in found
    assert not [t for t in found if " " in t]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda d: d.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves(document: Path) -> None:
    problems = broken_links(document)
    assert not problems, f"{document.relative_to(ROOT)}: " + "; ".join(problems)


def test_no_tracked_file_refers_outside_the_repository() -> None:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    references = list(OUTSIDE_REFERENCES)
    # This machine's path to the checkout (a generated file that recorded it, say), when it is
    # specific enough not to occur in other senses (a checkout at /src would meet WORKDIR /src).
    if len(ROOT.parts) >= 3:
        references.append(f"{ROOT}/")
    offenders = []
    for name in filter(None, listed):
        path = ROOT / name.decode()
        if not path.is_file():  # deleted or moved in the working tree
            continue
        content = path.read_bytes()
        for reference in references:
            if reference.encode() in content:
                offenders.append(f"{name.decode()} ({reference})")
    assert not offenders, f"tracked files that refer outside the repository: {offenders}"


def _sections(text: str, level: str) -> dict[str, str]:
    pieces = re.split(rf"^{level} (.+)$", text, flags=re.MULTILINE)
    return dict(zip(pieces[1::2], pieces[2::2], strict=True))


def test_readme_is_a_short_read_with_three_entry_points() -> None:
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 250, "README.md: about 200 lines; move detail into docs/"
    commands = _sections(text, "##")["Two commands"]
    assert "make run" in commands and "make test" in commands
    start = _sections(_sections(text, "##")["Where to start"], "###")
    assert list(start) == ["You write an API client", "You run it on a platform", "You keep it running"]
    client, platform, sre = start.values()
    # the client's path as curl: register, log in, the token as Bearer, list, like
    steps = ["$API/auth/register", "$API/auth/login", "authorization: Bearer $TOKEN", "$API/videos?", "/like"]
    positions = [client.find(step) for step in steps]
    assert -1 not in positions and positions == sorted(positions), dict(zip(steps, positions, strict=True))
    assert "docs/api.md" in client
    for needed in ("make image", "make push REGISTRY=", "helm install", "image:", "repository:"):
        assert needed in platform, needed
    assert "docs/operations.md" in platform
    for needed in ("Metrics", "Dashboard", "Alerts", "Runbook", "docs/runbook.md", "docs/operations.md"):
        assert needed in sre, needed
