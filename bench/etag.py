"""What ETags cost on the warm detail read, and what a 304 saves: `python bench/etag.py`.

Starts `halo serve` (1 worker) on a database of its own, publishes one video,
warms it, then drives wrk at `GET /api/v1/videos/{id}`:

- `200`: no `If-None-Match` (the tag is computed and sent; the body encoded);
- `304`: a matching `If-None-Match` (the tag computed, no body encoded or sent);

each anonymous and with a token. The tag's own cost is also timed in process
(`halo.api.etags.video` plus the `If-None-Match` comparison) and given as a
share of one request's time at the measured 200 rate (one worker: one core).

Environment: BENCH_DATABASE_URL (PostgreSQL server, default the local one),
BENCH_REDIS_URL (default redis://127.0.0.1:6379/13), BENCH_SECONDS (default 10),
BENCH_CONNECTIONS (default 32).
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import timeit
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
HALO = str(ROOT / ".venv/bin/halo")
SERVER_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wrk(url: str, headers: dict[str, str]) -> float:
    """Requests per second over BENCH_SECONDS (2 threads, BENCH_CONNECTIONS connections)."""
    command = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{SECONDS}s", url]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    if "Non-2xx or 3xx responses" in output:
        raise RuntimeError(f"errors during the run:\n{output}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]


def tag_cost_us() -> float:
    """In-process microseconds for one detail tag and its If-None-Match comparison."""
    from halo.api import etags
    from halo.http.conditional import none_match
    from halo.repositories.videos import VideoRow
    from halo.services.engagement import Engagement, VideoView

    now = datetime.now(UTC)
    row = VideoRow(
        1, 2, "title", None, None, "https://cdn.example/v.m3u8", False, False, 5, 0, 1, 0, 3, now, now
    )
    view = VideoView(row, Engagement(5, 1, 0, 0), liked=True)
    tag = etags.video(view)

    def once() -> None:
        none_match(tag, etags.video(view))

    runs = 200_000
    return min(timeit.repeat(once, number=runs, repeat=3)) / runs * 1e6


def main() -> None:
    name = f"halo_bench_etag_{uuid.uuid4().hex[:8]}"
    subprocess.run(["psql", SERVER_URL, "-qc", f'CREATE DATABASE "{name}"'], check=True)
    database_url = SERVER_URL.rsplit("/", 1)[0] + f"/{name}"
    port = free_port()
    env = {
        **os.environ,
        "ENV": "production",
        "JWT_SECRET": secrets.token_urlsafe(48),
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "WORKERS": "1",
        "PORT": str(port),
        "METRICS_PORT": "0",
        "BCRYPT_ROUNDS": "10",
        "LOG_LEVEL": "WARNING",
        "RATE_LIMIT_RPS": "1000000",
        "RATE_LIMIT_BURST": "1000000",
        "PROMETHEUS_MULTIPROC_DIR": tempfile.mkdtemp(prefix="halo-bench-etag-"),
    }
    subprocess.run([HALO, "migrate"], env=env, check=True, capture_output=True)
    log = tempfile.NamedTemporaryFile(prefix="halo-bench-etag-", suffix=".log", delete=False)  # noqa: SIM115
    server = subprocess.Popen([HALO, "serve"], env=env, start_new_session=True, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/health/ready").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        user = uuid.uuid4().hex[:10]
        registered = httpx.post(
            f"{base}/api/v1/auth/register",
            json={
                "email": f"b{user}@example.com",
                "username": f"b{user}",
                "password": "password123",
                "display_name": "Bench",
            },
        ).json()
        auth = {"Authorization": f"Bearer {registered['token']}"}
        video = httpx.post(f"{base}/api/v1/videos", json={"title": "bench"}, headers=auth).json()
        url = f"{base}/api/v1/videos/{video['id']}"
        figures = {}
        for caller, headers in (("anonymous", {}), ("token", auth)):
            tag = httpx.get(url, headers=headers).headers["etag"]
            wrk(url, headers)  # warm-up
            figures[f"{caller} 200"] = wrk(url, headers)
            figures[f"{caller} 304"] = wrk(url, {**headers, "If-None-Match": tag})
        cost = tag_cost_us()
        print(
            f"warm detail read, 1 worker, wrk -t2 -c{CONNECTIONS} -d{SECONDS}s ({sys.platform}, {os.cpu_count()} CPUs)"
        )
        for label, rate in figures.items():
            print(f"  {label}: {rate:,.0f} req/s")
        for caller in ("anonymous", "token"):
            rate = figures[f"{caller} 200"]
            print(
                f"  {caller}: tag + If-None-Match check {cost:.2f} us = {cost * rate / 1e6:.2%} of a 200's "
                f"{1e6 / rate:.0f} us; 304 vs 200: {figures[f'{caller} 304'] / rate - 1:+.1%}"
            )
    except Exception:
        print(f"server log: {log.name}", file=sys.stderr)
        raise
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        subprocess.run(
            ["psql", SERVER_URL, "-qc", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'], check=False
        )


if __name__ == "__main__":
    main()
