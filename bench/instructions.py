"""Instructions a request, counted by valgrind's callgrind: a figure this machine's load and
clock drift do not move, for comparing two versions of one route.

    python bench/instructions.py [--rev REV ...] [--path /api/v1/videos/{id}] [--token] [--requests 400]
                                 [--env NAME=VALUE ...]

Starts its own redis-server and a fresh database on the local PostgreSQL (seeded small), then
for the working tree (".", unless `--skip-tree`), each `--tree` and each `--rev` (checked out
into a throwaway git worktree, run with this checkout's virtualenv; sanic-ext hidden from a
revision that predates it) runs `halo serve` (one worker) under callgrind twice: both runs
start, warm the route up (400 requests) and stop; the second also serves `--requests` more
requests from 16 concurrent clients. The difference, per request, is printed. `{id}` in the path
cycles through the first 200 videos (all cached by the warm-up). Slow: about 5 minutes a version.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from run import free_port  # bench/run.py, beside this script

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PYTHON = str(ROOT / ".venv/bin/python")
SECRET = secrets.token_urlsafe(48)
ADMIN_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")


EXTRA_ENV: dict[str, str] = {}  # --env: settings for every server measured (tracing on, say)
KEEP: list[Path] = []  # --keep DIR: where each measured run's callgrind output is kept
CACHE_SIM: list[str] = []  # --cache-sim: valgrind simulates the caches too (misses a request)


def _env(source: Path, database_url: str, redis_url: str, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(
        PYTHONPATH=str(source / "service"),  # ahead of the virtualenv's editable install
        ENV="production",
        HOST="127.0.0.1",
        PORT=str(port),
        WORKERS="1",
        JWT_SECRET=SECRET,
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        BCRYPT_ROUNDS="10",
        RATE_LIMIT_RPS="1000000000",
        RATE_LIMIT_BURST="1000000000",
        REGISTER_MAX_PER_IP="1000000000",
        METRICS_PORT=str(free_port()),
        LOG_FORMAT="json",
        LOG_LEVEL="INFO",
    )
    env.update(EXTRA_ENV)
    return env


async def _drive(url: str, path: str, count: int, token: str | None, concurrency: int = 16) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    done = 0
    counter = iter(range(count))
    async with httpx.AsyncClient(base_url=url, timeout=120, headers=headers) as client:

        async def worker() -> None:
            nonlocal done
            for n in counter:
                response = await client.get(path.replace("{id}", str(1 + n % 200)))
                done += response.status_code < 500

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done


def _wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: see {process.args[3]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url + "/health/ready", timeout=10).status_code == 200:
                return
        time.sleep(1)
    raise TimeoutError("server not ready")


def _run(
    source: Path, database_url: str, redis_url: str, path: str, requests: int, token: bool
) -> tuple[dict[str, int], int]:
    """Instructions (and with --cache-sim the cache events) of a whole server run (start, warm-up,
    `requests` requests, shutdown) by event name ("Ir" and so on), and the requests served."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    out = Path(tempfile.mkdtemp(prefix="halo-callgrind-")) / "callgrind.out"
    # A revision from before sanic-ext: hide today's sanic-ext, which Sanic would load by itself.
    hide = (
        "" if "sanic-ext" in (source / "pyproject.toml").read_text() else "sys.modules['sanic_ext'] = None; "
    )
    command = [
        "valgrind",
        "--tool=callgrind",
        *CACHE_SIM,
        f"--callgrind-out-file={out}",
        PYTHON,
        "-c",
        f"import sys; {hide}from halo.cli import main; sys.exit(main(['serve']))",
    ]
    env = _env(source, database_url, redis_url, port)
    log = open(out.with_suffix(".log"), "wb")  # noqa: SIM115
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=source)
    served = 0
    try:
        _wait_ready(url, process)
        bearer = None
        if token:
            name = f"i{uuid.uuid4().hex[:10]}"
            body = {
                "email": f"{name}@x.example",
                "username": name,
                "password": "password123",
                "display_name": "I",
            }
            bearer = httpx.post(url + "/api/v1/auth/register", json=body, timeout=120).json()["token"]
        asyncio.run(_drive(url, path, 400, bearer))  # warm: every id cached, code paths hot
        if requests:
            served = asyncio.run(_drive(url, path, requests, bearer))
    finally:
        process.terminate()
        process.wait(300)
        log.close()
    text = out.read_text(errors="replace")
    events = re.search(r"^events: (.+)$", text, re.MULTILINE)
    match = re.search(r"^(?:summary|totals): ([\d ]+)$", text, re.MULTILINE)
    if not events or not match or not int(match.group(1).split()[0]):
        raise RuntimeError(f"nothing counted: see {out.parent}")
    if KEEP:
        kept = KEEP[0] / f"{source.name}-{requests}.callgrind"
        shutil.move(out, kept)
        print(f"kept {kept} (callgrind_annotate --inclusive=yes {kept})")
    shutil.rmtree(out.parent, ignore_errors=True)
    return dict(zip(events.group(1).split(), map(int, match.group(1).split()), strict=True)), served


def measure(
    source: Path, database_url: str, redis_url: str, path: str, requests: int, token: bool
) -> dict[str, float]:
    """Two runs that differ only in `requests` more requests: their difference, per request (the
    start-up, the warm-up and the shutdown cancel out)."""
    base, _ = _run(source, database_url, redis_url, path, 0, token)
    total, served = _run(source, database_url, redis_url, path, requests, token)
    return {event: (count - base[event]) / max(served, 1) for event, count in total.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rev", action="append", default=[], help="a git revision to compare (repeatable)")
    parser.add_argument("--path", default="/api/v1/videos/{id}")
    parser.add_argument("--token", action="store_true", help="send a Bearer token of a fresh account")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--skip-tree", action="store_true", help="measure only the --rev revisions")
    parser.add_argument(
        "--tree", action="append", default=[], help="another source tree to measure (repeatable)"
    )
    parser.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE", help="a setting for every server measured"
    )
    parser.add_argument("--keep", type=Path, help="keep each run's callgrind output in this directory")
    parser.add_argument(
        "--cache-sim",
        action="store_true",
        help="simulate the caches: misses a request beside the instructions",
    )
    args = parser.parse_args()
    if args.cache_sim:
        CACHE_SIM.append("--cache-sim=yes")
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        KEEP.append(args.keep.resolve())
    EXTRA_ENV.update(setting.split("=", 1) for setting in args.env)

    name = f"halo_instr_{uuid.uuid4().hex[:8]}"
    database_url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    redis_port = free_port()
    redis = subprocess.Popen(
        ["redis-server", "--port", str(redis_port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    worktrees: list[Path] = []
    try:
        subprocess.run(["psql", ADMIN_URL, "-qc", f'CREATE DATABASE "{name}"'], check=True)
        seed_env = _env(ROOT, database_url, redis_url, 8000)
        subprocess.run([PYTHON, "-m", "halo.cli", "migrate"], env=seed_env, check=True)
        subprocess.run(
            [PYTHON, "-m", "halo.cli", "seed", "--force", "--users", "200", "--videos", "2000"],
            env=seed_env,
            check=True,
            capture_output=True,
        )
        sources = [] if args.skip_tree else [(".", ROOT)]
        sources += [(tree, Path(tree)) for tree in args.tree]
        for rev in args.rev:
            tree = Path(tempfile.mkdtemp(prefix="halo-rev-"))
            subprocess.run(
                ["git", "worktree", "add", "--detach", str(tree), rev],
                cwd=ROOT,
                check=True,
                capture_output=True,
            )
            worktrees.append(tree)
            sources.append((rev, tree))
        for label, source in sources:
            per_request = measure(source, database_url, redis_url, args.path, args.requests, args.token)
            misses = ", ".join(
                f"{event} {count:,.0f}" for event, count in per_request.items() if event != "Ir"
            )
            settings = f" [{' '.join(args.env)}]" if args.env else ""
            print(
                f"{label:12s} {args.path}{' (token)' if args.token else ''}{settings}: "
                f"{per_request['Ir']:,.0f} instructions a request" + (f" ({misses})" if misses else "")
            )
    finally:
        redis.terminate()
        for tree in worktrees:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, capture_output=True)
        subprocess.run(
            ["psql", ADMIN_URL, "-qc", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'], capture_output=True
        )


if __name__ == "__main__":
    main()
