"""`make bench`: HALO under load beside its references, on this machine, into bench/RESULTS.md.

Seeds 100k videos with `halo seed`, then for 1 and 2 workers drives wrk (closed loop)
against HALO's endpoints and against three reference servers kept in bench/reference/:
a bare Sanic JSON hello (the framework's ceiling), a bare Sanic + asyncpg + redis
detail endpoint (the floor of a straightforward implementation) and the same detail
read on the seed's own stack, Go + Gin (gin/main.go, built offline from Debian's
packages). Then: detail latency at a fixed rate (h2load, open loop), /health/live
while 20 logins run, idle memory, 10,000 held connections, a concurrency sweep
(plotted), cache invalidation delay between two instances, tracing overhead, list pages
on a throwaway primary with and without a streaming replica, and a profile of the detail
endpoint.

Environment: BENCH_DATABASE_URL (a PostgreSQL server to create the bench database
on; default the local one), BENCH_SECONDS (per measurement, default 10), BENCH_QUICK=1
(shorter everything, for trying the harness), BENCH_ONLY (comma-separated sections of
workers, sweep, invalidation, tracing, replicas, connections, websockets, capacity: run only those and print
the figures instead of writing the report).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import os
import platform
import re
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LUA = HERE / "lua"
PYTHON = sys.executable
QUICK = os.environ.get("BENCH_QUICK") == "1"
SECONDS = int(os.environ.get("BENCH_SECONDS", "4" if QUICK else "10"))
WARMUP = 2 if QUICK else 3
VIDEOS = 20_000 if QUICK else 100_000
USERS = 2_000 if QUICK else 10_000
HOT_SET = 10_000  # "warm": random ids in the first 10k videos, all cached after a warm-up pass
CONNECTIONS = 64
PAIRED_ROUNDS = 1 if QUICK else 6  # back-to-back reference/HALO pairs for the target ratios
PAIRED_SECONDS = min(SECONDS, 6)  # each side of a pair: shorter runs, more of them, less drift inside one
# The replicas section's PostgreSQL-bound page: a title search in title order reads and sorts every match.
DATABASE_BOUND_PAGE = "/api/v1/videos?q=train&limit=20&sort=title"
# OTEL_TRACES_SAMPLER_ARG for the tracing cost; 0: the sampler drops every request (the unsampled cost)
TRACING_RATIOS = ("1.0", "0.1", "0.01", "0")

# The Go + Gin reference (bench/reference/gin/), built offline against Debian's Go packages.
GIN_SOURCE = HERE / "reference" / "gin"
GIN_BUILD = HERE / ".build"  # gitignored: the binary and Go's build cache
GOCODE = Path("/usr/share/gocode")  # where Debian's golang-*-dev packages put their sources
GO_PACKAGES = {  # import path: the Debian package that provides it
    "github.com/gin-gonic/gin": "golang-github-gin-gonic-gin-dev",
    "github.com/lib/pq": "golang-github-lib-pq-dev",
    "github.com/gomodule/redigo/redis": "golang-github-gomodule-redigo-dev",
}


# --- processes --------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _raise_nofile(limit: int = 65536) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(limit, hard) if hard != resource.RLIM_INFINITY else limit
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, target), hard))


@dataclass
class Server:
    name: str
    command: list[str]
    env: dict[str, str]
    port: int
    cpus: str | None = None
    ready_path: str = "/health/ready"
    process: subprocess.Popen[bytes] | None = None
    log: Path = field(default_factory=lambda: Path(tempfile.mkstemp(prefix="halo-bench-", suffix=".log")[1]))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> Server:
        command = (["taskset", "-c", self.cpus] if self.cpus else []) + self.command
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                command,
                env={**self.env, "PORT": str(self.port)},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_raise_nofile,
                cwd=ROOT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log.read_text()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + self.ready_path, timeout=2).status_code < 500:
                    time.sleep(0.5)
                    return self
            time.sleep(0.1)
        raise TimeoutError(f"{self.name} not ready:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def worker_pids(self) -> list[int]:
        """Processes serving the port: the main one alone, or the workers beside it."""
        assert self.process is not None
        out = subprocess.run(["ss", "-ltnpH", f"sport = :{self.port}"], capture_output=True, text=True).stdout
        pids = {int(pid) for pid in re.findall(r"pid=(\d+)", out)}
        workers = pids - {self.process.pid}
        return sorted(workers) or [self.process.pid]


def pin_cluster(data_directory: Path, cpu: int) -> None:
    """Every process of a running PostgreSQL cluster onto one CPU; the backends it starts later
    inherit the postmaster's."""
    postmaster = int((data_directory / "postmaster.pid").read_text().split()[0])
    pids = [postmaster]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == postmaster:
            pids.append(int(stat.parent.name))
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.sched_setaffinity(pid, {cpu})


def gin_missing() -> str | None:
    """What to install for the Gin reference, or None when Go and its packages are there."""
    missing = [] if shutil.which("go") else ["golang-go"]
    missing += [package for path, package in GO_PACKAGES.items() if not (GOCODE / "src" / path).is_dir()]
    return f"apt-get install {' '.join(missing)}" if missing else None


def build_gin() -> Path:
    """The Gin reference's binary, built offline: GOPATH mode against Debian's sources, no proxy."""
    GIN_BUILD.mkdir(exist_ok=True)
    binary = GIN_BUILD / "gin-detail"
    env = {
        **os.environ,
        "GO111MODULE": "off",
        "GOPATH": str(GOCODE),
        "GOPROXY": "off",
        "GOFLAGS": "",
        "GOCACHE": str(GIN_BUILD / "gocache"),
    }
    subprocess.run(["go", "build", "-o", str(binary), "."], cwd=GIN_SOURCE, env=env, check=True)
    return binary


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# --- load generators ----------------------------------------------------------------


def wrk(
    url: str,
    script: str,
    *,
    env: dict[str, str] | None = None,
    connections: int = CONNECTIONS,
    seconds: int = SECONDS,
    cpus: str | None = None,
) -> dict[str, Any]:
    body = (LUA / script).read_text() + "\n" + (LUA / "report.lua").read_text()
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(body)
    command = (["taskset", "-c", cpus] if cpus else []) + [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        handle.name,
        url,
    ]
    out = subprocess.run(
        command, env={**os.environ, **(env or {})}, capture_output=True, text=True, preexec_fn=_raise_nofile
    ).stdout
    os.unlink(handle.name)
    report = json.loads(next(line for line in out.splitlines() if line.startswith("{")))
    duration = report["duration_us"] / 1e6
    errors = report["connect_errors"] + report["read_errors"] + report["write_errors"] + report["timeouts"]
    return {
        "rps": report["requests"] / duration,
        "p50": report["p50_us"] / 1000,
        "p95": report["p95_us"] / 1000,
        "p99": report["p99_us"] / 1000,
        "errors": errors,
        "non2xx": report["non2xx"],
        "requests": report["requests"],
    }


def fill_caches(url: str, workers: int, cpus: str | None, env: dict[str, str] | None = None) -> None:
    """Walk every hot id in turn until each worker has most likely seen each one (a worker gets a
    given request with chance 1/workers: 4 passes leave about 6% of the ids uncached on 2 workers)."""
    target = HOT_SET * (1 if workers == 1 else 4) * 1.2
    done = 0
    for _ in range(15):
        # Each run goes on from the id the last one stopped at (a fresh wrk would start again at
        # 1: short runs at the cold rate then only ever warmed the first few thousand ids).
        start = 1 + done % HOT_SET
        done += int(
            wrk(
                url,
                "detail.lua",
                env={
                    "ID_MIN": "1",
                    "ID_MAX": str(HOT_SET),
                    "SEQUENTIAL": "1",
                    "START_ID": str(start),
                    **(env or {}),
                },
                seconds=2,
                cpus=cpus,
            )["requests"]
        )
        if done >= target:
            return


def h2load_open_loop(
    uris: list[str],
    rate: float,
    seconds: int,
    connections: int = 32,
    cpus: str | None = None,
    staggered: bool = True,
) -> dict[str, float]:
    """Constant request rate (open loop); percentiles from h2load's per-request log.

    `--rps` is per connection, and h2load starts a connection's timer when it connects: with every
    connection made at once, the load arrives as bursts of one request per connection. Staggered
    (the default), one connection is made every millisecond (`-r 1 --rate-period 1ms`, with `-n`
    in place of `-D`, which h2load does not allow beside `-r`), so the connections' ticks fall at
    different moments and the arrivals approach a constant rate."""
    with tempfile.TemporaryDirectory() as tmp:
        inputs, log = Path(tmp) / "uris", Path(tmp) / "log"
        inputs.write_text("\n".join(uris) + "\n")
        per_connection = max(1, round(rate / connections))
        length = ["-r", "1", "--rate-period", "1ms", "-n", str(per_connection * connections * seconds)]
        command = (["taskset", "-c", cpus] if cpus else []) + [
            "h2load",
            "--h1",
            "-c",
            str(connections),
            "-t",
            "1",
            "--rps",
            str(per_connection),
            *(length if staggered else ["-D", str(seconds)]),
            "-i",
            str(inputs),
            "--log-file",
            str(log),
        ]
        subprocess.run(command, capture_output=True, text=True, preexec_fn=_raise_nofile)
        rows = [line.split("\t") for line in log.read_text().splitlines() if line.strip()]
    durations = sorted(int(row[2]) / 1000 for row in rows)
    ok = sum(1 for row in rows if row[1].startswith("2"))
    return {
        "rate": per_connection * connections,
        "connections": connections,
        "staggered": staggered,
        "requests": len(rows),
        "ok": ok,
        "p50": percentile(durations, 50),
        "p95": percentile(durations, 95),
        "p99": percentile(durations, 99),
        "max": durations[-1] if durations else 0.0,
    }


def percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    index = min(len(values) - 1, max(0, round(p / 100 * len(values) + 0.5) - 1))
    return values[index]


# --- the run ------------------------------------------------------------------------


class Bench:
    def __init__(self) -> None:
        self.results: dict[str, Any] = {"workers": {}}
        self.started = time.time()
        self.servers: list[Server] = []
        self.database_url = ""
        self.redis_url = ""
        self.redis: subprocess.Popen[bytes] | None = None
        self.secret = secrets.token_urlsafe(48)

    # environment

    def halo_env(self, workers: int, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        env.update(
            ENV="production",
            HOST="127.0.0.1",
            WORKERS=str(workers),
            JWT_SECRET=self.secret,
            DATABASE_URL=self.database_url,
            REDIS_URL=self.redis_url,
            # The default, as the floor's pool: with 2 workers each, HALO's 40 and the floor's 40
            # connections stay within PostgreSQL's max_connections (100) while both run.
            DATABASE_POOL_MAX="20",
            BCRYPT_ROUNDS="12",
            RATE_LIMIT_RPS="1000000000",
            RATE_LIMIT_BURST="1000000000",
            REGISTER_MAX_PER_IP="1000000000",  # the accounts it makes all come from 127.0.0.1
            WS_MAX_CONNECTIONS_PER_IP="1000000",  # so do its 1,000 live sockets
            # Concurrent logins to one account count as attempts until each is checked: with the
            # default 5, most of the login load would be 429s instead of bcrypt work.
            LOGIN_MAX_FAILURES_PER_ACCOUNT_IP="1000000000",
            LOGIN_MAX_FAILURES_PER_ACCOUNT="1000000000",
            LOGIN_MAX_FAILURES_PER_IP="1000000000",
            METRICS_PORT=str(free_port()),
            LOG_FORMAT="json",
            LOG_LEVEL="INFO",
            VIEW_FLUSH_INTERVAL_SECONDS="5",
        )
        env.update(extra)
        return env

    def start(self, server: Server) -> Server:
        self.servers.append(server)
        return server.start()

    def halo(self, workers: int, cpus: str | None, name: str = "halo", **extra: str) -> Server:
        return self.start(
            Server(
                name,
                [str(ROOT / ".venv/bin/halo"), "serve"],
                self.halo_env(workers, **extra),
                free_port(),
                cpus,
            )
        )

    def reference(self, script: str, workers: int, cpus: str | None, ready: str) -> Server:
        env = {
            **os.environ,
            "WORKERS": str(workers),
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
        }
        return self.start(
            Server(script, [PYTHON, str(HERE / "reference" / script)], env, free_port(), cpus, ready)
        )

    def gin(self, workers: int, cpus: str | None) -> Server:
        """The Go + Gin detail reference: one process, `workers` OS threads running Go code."""
        env = {
            **os.environ,
            "GOMAXPROCS": str(workers),
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
        }
        return self.start(Server("gin", [str(GIN_BUILD / "gin-detail")], env, free_port(), cpus, "/videos/1"))

    def setup(self) -> None:
        server_url = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
        name = f"halo_bench_{uuid.uuid4().hex[:8]}"
        subprocess.run(["psql", server_url, "-qc", f'CREATE DATABASE "{name}"'], check=True)
        self.database_url = server_url.rsplit("/", 1)[0] + "/" + name
        self.admin_url, self.database_name = server_url, name
        port = free_port()
        self.redis = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.redis_url = f"redis://127.0.0.1:{port}/0"
        env = self.halo_env(1)
        subprocess.run([str(ROOT / ".venv/bin/halo"), "migrate"], env=env, check=True, capture_output=True)
        started = time.monotonic()
        subprocess.run(
            # --force: ENV=production (as served), and this is the throwaway database made above
            [str(ROOT / ".venv/bin/halo"), "seed", "--force", "--users", str(USERS), "--videos", str(VIDEOS)],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        self.results["seed_seconds"] = time.monotonic() - started

    def teardown(self) -> None:
        for server in self.servers:
            with contextlib.suppress(Exception):
                server.stop()
        if self.redis is not None:
            self.redis.kill()
        if self.database_url:
            subprocess.run(
                [
                    "psql",
                    self.admin_url,
                    "-qc",
                    f'DROP DATABASE IF EXISTS "{self.database_name}" WITH (FORCE)',
                ],
                capture_output=True,
            )

    # accounts and fixtures

    def accounts(self, url: str, count: int) -> list[tuple[str, str, str]]:
        made = []
        with httpx.Client(base_url=url, timeout=30) as http:
            for _ in range(count):
                name = f"b{uuid.uuid4().hex[:10]}"
                body = {
                    "email": f"{name}@bench.example",
                    "username": name,
                    "password": "password123",
                    "display_name": "Bench",
                }
                made.append(
                    (
                        body["email"],
                        "password123",
                        http.post("/api/v1/auth/register", json=body).json()["token"],
                    )
                )
        return made

    def deep_cursor(self, url: str, depth_pages: int = 50) -> str:
        cursor = None
        with httpx.Client(base_url=url, timeout=30) as http:
            for _ in range(depth_pages):
                params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
                cursor = http.get("/api/v1/videos", params=params).json()["next_cursor"]
        assert cursor
        return cursor

    # measurements

    def run_workers(self, workers: int) -> None:
        server_cpus, client_cpus = ("0", "1") if workers == 1 else (None, None)
        results: dict[str, Any] = {"server_cpus": server_cpus or "all", "client_cpus": client_cpus or "all"}
        halo = self.halo(workers, server_cpus)
        hello = self.reference("hello.py", workers, server_cpus, "/hello")
        floor = self.reference("detail.py", workers, server_cpus, "/videos/1")
        gin = self.gin(workers, server_cpus)
        results["idle_rss_mb"] = [round(rss_mb(pid), 1) for pid in halo.worker_pids()]
        (email, password, token), *others = self.accounts(halo.url, 50)
        cursor = self.deep_cursor(halo.url)
        hot = {"ID_MIN": "1", "ID_MAX": str(HOT_SET)}
        cold = {"ID_MIN": "1", "ID_MAX": str(VIDEOS)}
        plans: list[tuple[str, str, str, dict[str, str], int]] = [
            ("ref_hello", hello.url, "fixed.lua", {"PATH_FIXED": "/hello"}, CONNECTIONS),
            ("ref_detail", floor.url, "detail.lua", {**hot, "PATH_PREFIX": "/videos/"}, CONNECTIONS),
            ("ref_gin_detail", gin.url, "detail.lua", {**hot, "PATH_PREFIX": "/videos/"}, CONNECTIONS),
            ("health_live", halo.url, "fixed.lua", {"PATH_FIXED": "/health/live"}, CONNECTIONS),
            ("api_root", halo.url, "fixed.lua", {"PATH_FIXED": "/api/v1"}, CONNECTIONS),
            ("detail_warm", halo.url, "detail.lua", hot, CONNECTIONS),
            ("detail_token_warm", halo.url, "detail.lua", {**hot, "TOKEN": token}, CONNECTIONS),
            ("detail_cold", halo.url, "detail.lua", cold, CONNECTIONS),
            (
                "list_first_page",
                halo.url,
                "fixed.lua",
                {"PATH_FIXED": "/api/v1/videos?limit=20"},
                CONNECTIONS,
            ),
            (
                "list_first_page_token",  # with `viewer`: the caller's likes of the page, one batched read
                halo.url,
                "fixed.lua",
                {"PATH_FIXED": "/api/v1/videos?limit=20", "TOKEN": token},
                CONNECTIONS,
            ),
            (
                "batch_50_ids",  # GET ?ids= of 50 ids of the hot set
                halo.url,
                "fixed.lua",
                {"PATH_FIXED": "/api/v1/videos?ids=" + ",".join(str(i) for i in range(1, 51))},
                CONNECTIONS,
            ),
            (
                "list_deep_page",
                halo.url,
                "fixed.lua",
                {"PATH_FIXED": f"/api/v1/videos?limit=20&cursor={cursor}"},
                CONNECTIONS,
            ),
            ("views", halo.url, "post.lua", hot, CONNECTIONS),
            (
                "like",
                halo.url,
                "tokens.lua",
                {**cold, "TOKENS": ",".join(t for _, _, t in others)},
                CONNECTIONS,
            ),
            ("login", halo.url, "login.lua", {"EMAIL": email, "PASSWORD": password}, 16),
        ]
        measured: dict[str, Any] = {}
        fill_caches(halo.url, workers, client_cpus)
        fill_caches(floor.url, workers, client_cpus, {"PATH_PREFIX": "/videos/"})
        for name, url, script, env, connections in plans:
            if name != "detail_cold":  # warm up first; cold stays cold
                wrk(url, script, env=env, connections=connections, seconds=WARMUP, cpus=client_cpus)
            measured[name] = wrk(url, script, env=env, connections=connections, cpus=client_cpus)
            print(
                f"  {workers}w {name:18s} {measured[name]['rps']:9.0f} req/s  p99 {measured[name]['p99']:7.2f} ms",
                flush=True,
            )
        results["endpoints"] = measured

        # The ratios of the targets from back-to-back pairs: this machine's speed drifts between
        # measurements a minute apart, and the table above measures each endpoint once.
        by_name = {plan[0]: plan for plan in plans}
        paired: list[dict[str, float]] = []
        for round_number in range(PAIRED_ROUNDS):
            row = {}
            # Reference first in even rounds, HALO first in odd ones: a drift of the machine's
            # speed during a pair favours each side equally often. HALO's detail sits between its
            # two references (the floor and Gin), each of them before it in every other round.
            order = ("ref_detail", "detail_warm", "ref_gin_detail", "ref_hello", "api_root")
            if round_number % 2:
                order = ("ref_gin_detail", "detail_warm", "ref_detail", "api_root", "ref_hello")
            for name in order:
                _, url, script, env, connections = by_name[name]
                row[name] = wrk(
                    url, script, env=env, connections=connections, seconds=PAIRED_SECONDS, cpus=client_cpus
                )["rps"]
            paired.append(row)
            print(
                f"  {workers}w paired: detail {row['detail_warm'] / row['ref_detail']:.2f}x floor, "
                f"{row['detail_warm'] / row['ref_gin_detail']:.2f}x gin, "
                f"api_root {row['api_root'] / row['ref_hello']:.2f}x hello",
                flush=True,
            )
        results["paired"] = paired

        # detail latency at half of its saturation throughput, open loop
        uris = [f"{halo.url}/api/v1/videos/{i}" for i in range(1, HOT_SET + 1, 7)]
        rate = measured["detail_warm"]["rps"] / 2
        results["detail_open_loop"] = h2load_open_loop(uris, rate, SECONDS, cpus=client_cpus)
        # For comparison, the same rate with every connection's timer started at once: bursts of 32.
        results["detail_open_loop_burst"] = h2load_open_loop(
            uris, rate, SECONDS, cpus=client_cpus, staggered=False
        )
        floor_uris = [f"{floor.url}/videos/{i}" for i in range(1, HOT_SET + 1, 7)]
        results["ref_detail_open_loop"] = h2load_open_loop(
            floor_uris, measured["ref_detail"]["rps"] / 2, SECONDS, cpus=client_cpus
        )

        # /health/live while 20 logins are in flight
        logins = threading.Thread(
            target=wrk,
            args=(halo.url, "login.lua"),
            kwargs={
                "env": {"EMAIL": email, "PASSWORD": password},
                "connections": 20,
                "seconds": SECONDS + 2,
                "cpus": client_cpus,
            },
        )
        logins.start()
        time.sleep(1.5)
        results["live_during_logins"] = h2load_open_loop(
            [f"{halo.url}/health/live"], 200, SECONDS - 2, connections=4, cpus=client_cpus
        )
        logins.join()
        results["active_rss_mb"] = [round(rss_mb(pid), 1) for pid in halo.worker_pids()]
        for server in (halo, hello, floor, gin):
            server.stop()
        self.results["workers"][workers] = results

    def sweep(self) -> None:
        """Detail (warm) throughput and p99 against concurrency, HALO and the floor, one worker."""
        halo = self.halo(1, "0")
        floor = self.reference("detail.py", 1, "0", "/videos/1")
        hot = {"ID_MIN": "1", "ID_MAX": str(HOT_SET)}
        fill_caches(halo.url, 1, "1")
        levels = [1, 4, 16, 64, 256] if QUICK else [1, 2, 4, 8, 16, 32, 64, 128, 256]
        sweep: dict[str, list[dict[str, Any]]] = {"halo": [], "floor": []}
        for connections in levels:
            for key, url, env in (
                ("halo", halo.url, hot),
                ("floor", floor.url, {**hot, "PATH_PREFIX": "/videos/"}),
            ):
                result = wrk(
                    url,
                    "detail.lua",
                    env=env,
                    connections=connections,
                    seconds=max(3, SECONDS // 2),
                    cpus="1",
                )
                sweep[key].append({"connections": connections, **result})
        self.results["sweep"] = sweep
        self.profile(halo)
        halo.stop()
        floor.stop()

    def profile(self, halo: Server) -> None:
        py_spy = ROOT / ".venv/bin/py-spy"
        if not py_spy.exists():
            return
        raw = Path(tempfile.mkstemp(suffix=".txt")[1])
        load = threading.Thread(
            target=wrk,
            args=(halo.url, "detail.lua"),
            kwargs={"env": {"ID_MIN": "1", "ID_MAX": str(HOT_SET)}, "seconds": SECONDS, "cpus": "1"},
        )
        load.start()
        time.sleep(1)
        assert halo.process is not None
        subprocess.run(
            [
                str(py_spy),
                "record",
                "-p",
                str(halo.process.pid),
                "-d",
                str(max(3, SECONDS - 3)),
                "-r",
                "400",
                "--nonblocking",
                "-f",
                "raw",
                "-o",
                str(raw),
            ],
            capture_output=True,
        )
        load.join()
        own: Counter[str] = Counter()
        total = 0
        for line in raw.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if "_serve_http_1" not in stack:
                continue  # the event loop's thread only
            frames = stack.split(";")
            start = next(i for i, frame in enumerate(frames) if "_run_server_forever" in frame)
            leaf = frames[-1] if len(frames) > start + 1 else "(event loop idle)"
            own[re.sub(r" \(/.*?site-packages/", " (", leaf)] += int(count)
            total += int(count)
        raw.unlink()
        self.results["profile"] = [(frame, round(100 * n / total, 1)) for frame, n in own.most_common(15)]

    def invalidation_delay(self) -> None:
        first, second = self.halo(1, None, "halo-a"), self.halo(1, None, "halo-b")
        ((_, _, token),) = self.accounts(first.url, 1)
        auth = {"Authorization": f"Bearer {token}"}
        delays = []
        with httpx.Client(base_url=first.url, headers=auth) as a, httpx.Client(base_url=second.url) as b:
            video = a.post("/api/v1/videos", json={"title": "t0"}).json()["id"]
            for i in range(1, 21):
                b.get(f"/api/v1/videos/{video}")  # cached on B
                a.patch(f"/api/v1/videos/{video}", json={"title": f"t{i}"})
                started = time.perf_counter()
                while b.get(f"/api/v1/videos/{video}").json()["title"] != f"t{i}":
                    if time.perf_counter() - started > 5:
                        break
                delays.append((time.perf_counter() - started) * 1000)
        self.results["invalidation_ms"] = {
            "p50": statistics.median(delays),
            "max": max(delays),
            "samples": len(delays),
        }
        first.stop()
        second.stop()

    def tracing_cost(self) -> None:
        """Warm detail on 1 worker with tracing off, and on with the default sampler (parent-based
        ratio, OTLP/HTTP in batches to a local collector of its own) at each of TRACING_RATIOS.
        wrk sends no traceparent, so each request starts a trace and the ratio alone decides.
        All the servers run at once (pinned to core 0, wrk to core 1) and are measured in turn,
        PAIRED_ROUNDS rounds, the ratios in a rotating order with off measured before and after
        each: a ratio's cost in a round is against the mean of the two off runs beside it, and its
        cost is the median over the rounds, so that the machine's drift cancels out. Requests/s, cost, the worker's CPU time a request (export thread included)
        and the spans each collector received."""
        hot = {"ID_MIN": "1", "ID_MAX": str(HOT_SET)}
        labels = ["off", *TRACING_RATIOS]
        collectors: dict[str, _Collector] = {}
        servers: dict[str, Server] = {}
        for label in labels:
            # A small pool: four servers at once, and warm reads need few connections. The cache
            # entries' safety TTL (60 s) would expire the first servers' while the last ones warm up.
            extra = {"DATABASE_POOL_MAX": "5", "VIDEO_CACHE_TTL_SECONDS": "3600"}
            if label != "off":
                collector = collectors[label] = _Collector()
                extra.update(
                    OTEL_EXPORTER_OTLP_ENDPOINT=collector.url,
                    OTEL_TRACES_SAMPLER="parentbased_traceidratio",
                    OTEL_TRACES_SAMPLER_ARG=label,
                )
            servers[label] = self.halo(1, "0", f"halo-tracing-{label}", **extra)
            fill_caches(servers[label].url, 1, "1")
        time.sleep(5.5)  # the warm-ups' spans leave (OTEL_BSP_SCHEDULE_DELAY, 5 s) before the count
        for collector in collectors.values():
            collector.reset()
        ratios = list(TRACING_RATIOS)
        rounds: list[dict[str, dict[str, Any]]] = []
        for index in range(PAIRED_ROUNDS):
            shift = index % len(ratios)

            def measure(label: str) -> dict[str, Any]:
                (worker,) = servers[label].worker_pids()
                cpu_before = _cpu_seconds(worker)
                result = wrk(servers[label].url, "detail.lua", env=hot, cpus="1", seconds=PAIRED_SECONDS)
                result["cpu_us"] = 1e6 * (_cpu_seconds(worker) - cpu_before) / max(result["requests"], 1)
                return result

            # off before and after every ratio (off, r1, off, r2, ..., off): each ratio is set
            # against the mean of the two off runs beside it, so a drift across the pair cancels.
            measured: dict[str, dict[str, Any]] = {}
            offs = [measure("off")]
            for label in ratios[shift:] + ratios[:shift]:
                measured[label] = measure(label)
                offs.append(measure("off"))
                measured[label]["off_rps"] = (offs[-2]["rps"] + offs[-1]["rps"]) / 2
                measured[label]["off_cpu_us"] = (offs[-2]["cpu_us"] + offs[-1]["cpu_us"]) / 2
            measured["off"] = {
                key: statistics.mean(run[key] for run in offs) for key in ("rps", "p50", "p99", "cpu_us")
            }
            measured["off"].update(
                requests=sum(run["requests"] for run in offs), errors=sum(run["errors"] for run in offs)
            )
            rounds.append(measured)
        for server in servers.values():
            server.stop()  # exports what is still queued
        costs: dict[str, Any] = {"sampler": "parentbased_traceidratio", "rounds": len(rounds), "ratios": {}}
        for label in labels:
            runs = [measured[label] for measured in rounds]
            summary: dict[str, Any] = {
                key: statistics.median(run[key] for run in runs) for key in ("rps", "p50", "p99", "cpu_us")
            }
            summary["requests"] = sum(run["requests"] for run in runs)
            summary["errors"] = sum(run["errors"] for run in runs)
            if label == "off":
                costs["off"] = summary
                continue
            summary["cost_pct"] = statistics.median(
                100 * (1 - measured[label]["rps"] / measured[label]["off_rps"]) for measured in rounds
            )
            summary["cpu_cost_pct"] = statistics.median(
                100 * (1 - measured[label]["off_cpu_us"] / measured[label]["cpu_us"]) for measured in rounds
            )
            summary["spans_received"] = collectors[label].spans
            summary["export_requests"] = collectors[label].posts
            collectors[label].close()
            costs["ratios"][label] = summary
        self.results["tracing"] = costs

    def replica_scaling(self) -> None:
        """List pages that read PostgreSQL every time (the first page in view-count order, which is
        not cached), 2 workers on both cores, on a throwaway primary alone and with one streaming
        replica of it added (`pg_basebackup`, on the same machine): PAIRED_ROUNDS back-to-back
        pairs, the order reversed every other round, and the share of reads the replica served."""
        sys.path.insert(0, str(ROOT))  # tests.support: the tests' throwaway PostgreSQL and replica
        from tests.support.services import ThrowawayPostgres, ThrowawayReplica

        primary = ThrowawayPostgres(max_connections=300).init()
        primary.start()
        replica: ThrowawayReplica | None = None
        try:
            database_url = primary.url.rsplit("/", 1)[0] + "/halo_bench"
            subprocess.run(["psql", primary.url, "-qc", 'CREATE DATABASE "halo_bench"'], check=True)
            env = {**self.halo_env(1), "DATABASE_URL": database_url}
            halo = str(ROOT / ".venv/bin/halo")
            subprocess.run([halo, "migrate"], env=env, check=True, capture_output=True)
            seed = [halo, "seed", "--force", "--users", str(USERS), "--videos", str(VIDEOS)]
            subprocess.run(seed, env=env, check=True, stdout=subprocess.DEVNULL)
            replica = ThrowawayReplica(max_connections=primary.max_connections).clone(
                primary
            )  # a standby needs as many
            replica.start()
            replica_url = replica.url.rsplit("/", 1)[0] + "/halo_bench"
            caught_up = "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn"
            target = subprocess.run(
                ["psql", database_url, "-tAc", "SELECT pg_current_wal_lsn()"], capture_output=True, text=True
            ).stdout.strip()
            for _ in range(120):
                answer = subprocess.run(
                    ["psql", replica_url, "-tAc", caught_up % f"'{target}'"], capture_output=True, text=True
                ).stdout.strip()
                if answer == "t":
                    break
                time.sleep(0.5)
            servers = {
                "primary": self.halo(2, None, "halo-primary-only", DATABASE_URL=database_url),
                "replica": self.halo(
                    2, None, "halo-with-replica", DATABASE_URL=database_url, DATABASE_REPLICA_URLS=replica_url
                ),
            }
            paired = _paired_page(servers, "/api/v1/videos?limit=20&sort=-view_count")
            reads = _metric_total(servers["replica"], "halo_db_reads_total")
            servers["replica"].stop()
            bound = self._database_bound_reads(
                primary, replica, servers["primary"], database_url, replica_url
            )
            servers["primary"].stop()
            self.results["replicas"] = {
                **paired,
                "workers": 2,
                "reads_by_pool": reads,
                "database_bound": bound,
            }
        finally:
            if replica is not None:
                replica.destroy()
            primary.destroy()

    def _database_bound_reads(
        self, primary: Any, replica: Any, alone: Server, database_url: str, replica_url: str
    ) -> dict[str, Any]:
        """A page whose cost is PostgreSQL's (a title search in title order: every match read and
        sorted), with each database on a core of its own, as on hosts of their own (the primary's
        processes on CPU 0, the replica's on CPU 1; HALO and wrk on either): the primary alone
        against the primary and the replica sharing the reads (REPLICA_PRIMARY_READ_SHARE=0.5)."""
        pin_cluster(primary.directory / "data", 0)
        pin_cluster(replica.directory / "data", 1)
        shared = self.halo(
            2,
            None,
            "halo-shared-reads",
            DATABASE_URL=database_url,
            DATABASE_REPLICA_URLS=replica_url,
            REPLICA_PRIMARY_READ_SHARE="0.5",
        )
        servers = {"primary": alone, "shared": shared}
        before = _metric_total(shared, "halo_db_reads_total")
        paired = _paired_page(servers, DATABASE_BOUND_PAGE)
        after = _metric_total(shared, "halo_db_reads_total")
        shared.stop()
        return {
            **paired,
            "reads_by_pool": {pool: after.get(pool, 0.0) - before.get(pool, 0.0) for pool in after},
        }

    def many_connections(self, target: int = 10_000) -> None:
        halo = self.halo(1, "0", "halo-connections", REQUEST_TIMEOUT_SECONDS="120")
        held, latencies = asyncio.run(_hold_connections(halo.port, target))
        self.results["connections"] = {
            "target": target,
            "held": held,
            "rss_mb": [round(rss_mb(pid), 1) for pid in halo.worker_pids()],
            "live_p50_ms": statistics.median(latencies) if latencies else None,
            "live_max_ms": max(latencies) if latencies else None,
            "live_answers": len(latencies),
        }
        halo.stop()

    def websockets(self, sockets: int = 1000, videos: int = 100) -> None:
        """Memory of `sockets` open live sockets on one worker, and the delay from a like to its message."""
        halo = self.halo(1, "0", "halo-websockets", WS_MAX_CONNECTIONS=str(sockets * 2))
        accounts = self.accounts(halo.url, 2)
        worker = halo.worker_pids()[0]
        with httpx.Client(base_url=halo.url, timeout=30) as http:  # warm: the videos' rows cached
            ids = [
                item["id"] for item in http.get("/api/v1/videos", params={"limit": videos}).json()["items"]
            ]
            for video in ids:
                http.get(f"/api/v1/videos/{video}")
        idle = rss_mb(worker)
        self.results["websockets"] = asyncio.run(
            _live_sockets(
                halo.url, sockets, ids, [token for _, _, token in accounts], lambda: rss_mb(worker), idle
            )
        )
        halo.stop()


def _paired_page(servers: dict[str, Server], path: str) -> dict[str, Any]:
    """Two servers on one page: each warmed (pools, plans, buffers), then PAIRED_ROUNDS back-to-back
    pairs, the order reversed every other round; each one's median and the second ÷ the first."""
    page = {"PATH_FIXED": path}
    for server in servers.values():
        wrk(server.url, "fixed.lua", env=page, seconds=3)
    first, second = servers
    rounds = []
    for index in range(PAIRED_ROUNDS):
        order = [first, second] if index % 2 == 0 else [second, first]
        rounds.append(
            {label: wrk(servers[label].url, "fixed.lua", env=page, seconds=PAIRED_SECONDS) for label in order}
        )
    return {
        "path": path,
        "rounds": rounds,
        "rps": {label: statistics.median(measured[label]["rps"] for measured in rounds) for label in servers},
        "ratio": statistics.median(measured[second]["rps"] / measured[first]["rps"] for measured in rounds),
    }


def _metric_total(server: Server, name: str) -> dict[str, float]:
    """A counter from the server's metrics endpoint, summed by its `pool` label."""
    text = httpx.get(f"http://127.0.0.1:{server.env['METRICS_PORT']}/metrics", timeout=10).text
    totals: dict[str, float] = {}
    for line in text.splitlines():
        match = re.match(rf'{name}{{.*?pool="([^"]+)".*?}} (\S+)$', line)
        if match:
            totals[match.group(1)] = totals.get(match.group(1), 0.0) + float(match.group(2))
    return totals


def _cpu_seconds(pid: int) -> float:
    """User and system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _Collector:
    """A stand-in OTLP/HTTP collector on a port of its own: counts the export requests and the spans."""

    def __init__(self) -> None:
        self.posts = self.spans = 0
        self.lock = threading.Lock()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                spans = sum(
                    len(scope.spans)
                    for resource in ExportTraceServiceRequest.FromString(body).resource_spans
                    for scope in resource.scope_spans
                )
                with collector.lock:
                    collector.posts += 1
                    collector.spans += spans
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def reset(self) -> None:
        with self.lock:
            self.posts = self.spans = 0

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


async def _hold_connections(port: int, target: int) -> tuple[int, list[float]]:
    _raise_nofile()
    writers = []
    request = b"GET /health/live HTTP/1.1\r\nHost: bench\r\n\r\n"
    for start in range(0, target, 500):
        batch = await asyncio.gather(
            *(asyncio.open_connection("127.0.0.1", port) for _ in range(start, min(target, start + 500))),
            return_exceptions=True,
        )
        for item in batch:
            if isinstance(item, tuple):
                reader, writer = item
                writer.write(request)
                writers.append((reader, writer))
        await asyncio.sleep(0.05)
    answered = 0
    for reader, _ in writers:
        with contextlib.suppress(Exception):
            if (await asyncio.wait_for(reader.read(4096), 10)).startswith(b"HTTP/1.1 200"):
                answered += 1
    latencies = []
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
        for _ in range(50):
            started = time.perf_counter()
            if (await http.get("/health/live")).status_code == 200:
                latencies.append((time.perf_counter() - started) * 1000)
    open_now = sum(1 for _, writer in writers if not writer.is_closing())
    for _, writer in writers:
        writer.close()
    return min(answered, open_now), latencies


async def _live_sockets(
    url: str, count: int, videos: list[int], tokens: list[str], rss: Any, idle_mb: float
) -> dict[str, Any]:
    from websockets.asyncio.client import connect

    _raise_nofile()
    base = url.replace("http://", "ws://", 1)
    received: Counter[int] = Counter()

    async def read(index: int, connection: Any) -> None:
        with contextlib.suppress(Exception):
            async for _ in connection:
                received[index] += 1

    connections = []
    readers = []
    for index in range(count):
        video = videos[index % len(videos)]
        connection = await connect(f"{base}/api/v1/videos/{video}/live?viewer_id=bench-viewer-{index:05d}")
        connections.append(connection)
        readers.append(asyncio.create_task(read(index, connection)))
    await asyncio.sleep(3)  # presence settles, first messages out
    gc_settled = rss()
    # a like on every video reaches every socket
    started = time.perf_counter()
    before = sum(received.values())
    async with httpx.AsyncClient(
        base_url=url, timeout=30, headers={"Authorization": f"Bearer {tokens[0]}"}
    ) as http:
        await asyncio.gather(*(http.put(f"/api/v1/videos/{video}/like") for video in videos))
        deadline = time.perf_counter() + 10
        while sum(received.values()) - before < count and time.perf_counter() < deadline:
            await asyncio.sleep(0.01)
        fan_out_ms = (time.perf_counter() - started) * 1000
        fanned = sum(received.values()) - before
        # the delay from a like (sent to the server) to its message on a socket of that video
        delays = []
        probe = await connect(f"{base}/api/v1/videos/{videos[0]}/live?viewer_id=bench-probe-0001")
        await probe.recv()
        liker = {"Authorization": f"Bearer {tokens[1]}"}
        for i in range(20):
            await asyncio.sleep(0.4)  # past the coalescing interval: each like is a fresh change
            method = http.put if i % 2 == 0 else http.delete
            sent = time.perf_counter()
            await method(f"/api/v1/videos/{videos[0]}/like", headers=liker)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5):
                    await probe.recv()
                    delays.append((time.perf_counter() - sent) * 1000)
        await probe.close()
    for connection in connections:
        await connection.close()
    for reader in readers:
        reader.cancel()
    return {
        "sockets": count,
        "videos": len(videos),
        "idle_rss_mb": round(idle_mb, 1),
        "open_rss_mb": round(gc_settled, 1),
        "per_socket_kib": round((gc_settled - idle_mb) * 1024 / count, 1),
        "fan_out_ms": round(fan_out_ms, 1),
        "fan_out_messages": fanned,
        "like_to_message_ms": {
            "p50": round(statistics.median(delays), 1) if delays else None,
            "max": round(max(delays), 1) if delays else None,
            "samples": len(delays),
        },
    }


def main() -> int:
    for tool in ("wrk", "h2load", "taskset", "ss", "psql", "redis-server"):
        if shutil.which(tool) is None:
            print(
                f"bench: {tool} is missing (Debian: apt-get install wrk nghttp2-client util-linux iproute2 "
                "postgresql-client redis-server)"
            )
            return 1
    _raise_nofile()
    bench = Bench()
    sections = {
        "workers": lambda: [bench.run_workers(workers) for workers in (1, 2)],
        "sweep": bench.sweep,
        "invalidation": bench.invalidation_delay,
        "tracing": bench.tracing_cost,
        "replicas": bench.replica_scaling,
        "connections": bench.many_connections,
        "websockets": bench.websockets,
        # bench/capacity.py: PostgreSQL and Redis work a request, into docs/capacity.md
        "capacity": lambda: __import__("capacity").section(bench),
    }
    only = [name for name in os.environ.get("BENCH_ONLY", "").split(",") if name]
    if not only or "workers" in only:  # the Gin reference runs beside HALO there
        install = gin_missing()
        if install:
            print(f"bench: the Go + Gin reference needs Go and its Debian packages ({install})")
            return 1
        print("building the Gin reference...", flush=True)
        build_gin()
    try:
        print("seeding...", flush=True)
        bench.setup()
        for name, run in sections.items():
            if not only or name in only:
                print(f"{name}...", flush=True)
                run()
    finally:
        bench.teardown()
    bench.results["elapsed_seconds"] = time.time() - bench.started
    bench.results["finished_at"] = f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M}"
    if only:  # a partial run (trying the harness): print, leave the report alone
        print(json.dumps(bench.results, indent=1, default=str))
        return 0
    (HERE / "results.json").write_text(json.dumps(bench.results, indent=1, default=str))
    from report import write_report

    write_report(bench.results, machine())
    print(f"wrote {HERE / 'RESULTS.md'}")
    return 0


def machine() -> dict[str, str]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory = next(
        line.split(":", 1)[1].strip()
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    versions = {}
    for tool, args in (
        ("wrk", ["wrk", "--version"]),
        ("h2load", ["h2load", "--version"]),
        ("postgres", ["psql", "--version"]),
        ("redis", ["redis-server", "--version"]),
        ("go", ["go", "version"]),
    ):
        out = subprocess.run(args, capture_output=True, text=True)
        versions[tool] = (
            (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr) else "?"
        )
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": memory,
        "kernel": platform.release(),
        "python": platform.python_version(),
        **versions,
    }


if __name__ == "__main__":
    sys.exit(main())
