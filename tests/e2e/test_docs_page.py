"""/docs works offline: the page and everything it loads come from the service itself.

Headless Chromium with the network cut off (every name resolves nowhere but 127.0.0.1, any
other connection goes to a dead proxy) renders /docs; Redoc must have drawn the operations from
/openapi.json. Without Chromium the browser test skips, except under CI=true, where it fails.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import httpx

from halo.api.docs import STATIC
from tests.support.server import RunningServer
from tests.support.services import require_tool

SUMMARIES = (
    "Create an account and get a token",
    "List videos",
    "A video with its engagement",
    "Live engagement over a WebSocket",
)


async def test_docs_page_loads_only_the_services_own_assets(client: httpx.AsyncClient) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'self'" in policy
    sources = re.findall(r"""(?:src|href|spec-url)=["']([^"']+)""", page.text)
    assert sources, page.text
    assert all(source.startswith("/") and not source.startswith("//") for source in sources), sources
    bundle = await client.get("/docs/redoc.standalone.js")
    assert bundle.status_code == 200
    assert "javascript" in bundle.headers["content-type"]
    assert bundle.content == (STATIC / "redoc.standalone.js").read_bytes()  # read from disk when asked for
    for licence in ("/docs/redoc.LICENSE", "/docs/redoc.standalone.js.LICENSE.txt"):
        text = await client.get(licence)
        assert text.status_code == 200
        assert text.headers["content-type"] == "text/plain; charset=utf-8"
        assert text.content == (STATIC / licence.removeprefix("/docs/")).read_bytes()


def test_docs_page_renders_the_operations_offline(server: RunningServer, tmp_path: Path) -> None:
    chromium = require_tool("chromium", "apt-get install chromium")
    result = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--proxy-server=127.0.0.1:9",
            "--proxy-bypass-list=127.0.0.1",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=30000",
            "--dump-dom",
            f"{server.url}/docs",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    dom = result.stdout
    missing = [summary for summary in SUMMARIES if summary not in dom]
    assert not missing, (missing, result.stderr[-4000:])
    # The page's own script, styles, worker and document fetch passed its policy (Redoc's badge
    # image from its CDN may be refused: it hides itself, and the network is cut off anyway).
    refused = [
        line
        for line in result.stderr.splitlines()
        if "Content Security Policy" in line and "Loading the image" not in line
    ]
    assert not refused, refused
