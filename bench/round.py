"""`make bench-round`: this development round's changes, measured in one run, into bench/ROUND.md.

Reuses bench/run.py's harness (a throwaway PostgreSQL database and redis-server, `halo migrate`,
`halo seed`, the pinned servers, wrk and h2load) and measures, each section on its own:

  a. the round's start against now: HALO built at ROUND_BASE (default 871217a, in a throwaway git
     worktree with a venv of its own) beside today's HALO, on the same database and Redis, one
     worker each pinned to CPU 0 (wrk on CPU 1), in alternating back-to-back pairs with the floor
     and hello references: warm detail anonymous and with a token, and `GET /api/v1`;
  b. FAST_PATH=true against FAST_PATH=false (today's code): warm detail and `GET /api/v1`;
  c. conditional GET, if the service answers an ETag: warm detail of one video with the matching
     `If-None-Match` (304) against the same without it (200);
  d. if the service supports them: the first list page anonymous against with a token (its
     `viewer` fields), both and a page in view-count order against the warm detail read, and the
     batch read `GET /api/v1/videos?ids=` of 50 ids;
  e. `/health/live` latency (h2load, open loop) during a registration flood (20 connections, each
     request a new account, BCRYPT_ROUNDS=12, 2 workers), and how many registrations got 201 / 503.

A section that fails records its error in bench/round.json and the run goes on.

Environment: as bench/run.py (BENCH_DATABASE_URL, BENCH_QUICK=1 for a ~5-minute try; about 12
minutes at full length), plus ROUND_BASE (the commit of the round's start), ROUND_ROUNDS (pairs per comparison,
default 6) and ROUND_ONLY (comma-separated sections of a, b, c, d, e).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

# bench/ is not a package: run.py is found through the path above (from any working directory)
sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import (
    HERE,
    HOT_SET,
    LUA,
    PYTHON,
    QUICK,
    ROOT,
    Bench,
    Server,
    _raise_nofile,
    fill_caches,
    free_port,
    h2load_open_loop,
    machine,
    wrk,
)

BASE = os.environ.get("ROUND_BASE", "871217a")
WARM = {"VIDEO_CACHE_TTL_SECONDS": "3600"}  # the servers' cached rows outlive the run (see section_a)
ROUNDS = int(os.environ.get("ROUND_ROUNDS", "2" if QUICK else "6"))
PAIR_SECONDS = 3 if QUICK else 4  # each side of a pair
WARM_SECONDS = 1 if QUICK else 2  # a short run of each plan before the pairs
FLOOD_SECONDS = 6 if QUICK else 12
SERVER_CPUS, CLIENT_CPUS = "0", "1"
HOT = {"ID_MIN": "1", "ID_MAX": str(HOT_SET)}
CONNECTIONS = 64

# name -> (server url, lua script, its environment)
Plan = tuple[str, str, dict[str, str]]


def command_line(plan: Plan, seconds: int = PAIR_SECONDS, connections: int = CONNECTIONS) -> str:
    """The wrk command a plan runs (report.lua is appended to the script), with its environment."""
    url, script, env = plan
    shown = {key: ("<token>" if key == "TOKEN" else value) for key, value in env.items()}
    prefix = " ".join(
        f"{key}='{value}'" if '"' in value else f"{key}={value}" for key, value in shown.items()
    )
    return (
        f"{prefix} taskset -c {CLIENT_CPUS} wrk -t1 -c{connections} -d{seconds}s --timeout 10s "
        f"-s bench/lua/{script}+report.lua {url}"
    ).strip()


def paired(
    plans: dict[str, Plan], rounds: int = ROUNDS, label: str = "", references: int | None = None
) -> dict[str, Any]:
    """Every plan run back to back, `rounds` times.

    By default in the given order in even rounds and reversed in odd ones (a drift of the machine's
    speed during a round favours each side equally often). With `references`, the first that many
    plans run first in every round, in order, and the rest are compared two by two (now, base): each
    two run one after the other, in swapped order every other round. Then each side of a comparison
    follows the same plans as the other, as often: in reversed order, today's build followed the
    floor or the old build, and the old build always followed a HALO run."""
    names = list(plans)
    for name in names:  # warm-up
        url, script, env = plans[name]
        wrk(url, script, env=env, seconds=WARM_SECONDS, cpus=CLIENT_CPUS)
    rows: list[dict[str, dict[str, float]]] = []
    for round_number in range(rounds):
        row = {}
        for name in running_order(names, round_number, references):
            url, script, env = plans[name]
            row[name] = wrk(url, script, env=env, seconds=PAIR_SECONDS, cpus=CLIENT_CPUS)
        rows.append(row)
        print(
            f"  {label} round {round_number + 1}: " + ", ".join(f"{n} {row[n]['rps']:.0f}" for n in names),
            flush=True,
        )
    medians = {
        name: {
            "rps": statistics.median(row[name]["rps"] for row in rows),
            "p99": statistics.median(row[name]["p99"] for row in rows),
            "non2xx": sum(row[name]["non2xx"] for row in rows),
            "errors": sum(row[name]["errors"] for row in rows),
            "command": command_line(plans[name]),
        }
        for name in names
    }
    return {"rounds": rounds, "median": medians, "pairs": [{n: r[n]["rps"] for n in names} for r in rows]}


SANIC_EXT_SINCE = "833468e"  # the commit that brought sanic-ext in


def build_revision(rev: str) -> tuple[Path, Path]:
    """A worktree at `rev` and a venv there whose own packages are that HALO alone (editable, no
    dependencies): the rest come from today's .venv through a .pth line (the old dependencies are
    a subset of today's; the package index here may not resolve them afresh). Returns the tree and
    its `halo` command."""
    tree = Path(tempfile.mkdtemp(prefix="halo-round-base-")) / "tree"
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), rev],
        check=True,
        capture_output=True,
    )
    venv = tree / ".venv"
    subprocess.run([sys.base_prefix + "/bin/python3", "-m", "venv", str(venv)], check=True)
    (site,) = (venv / "lib").glob("python3*/site-packages")
    today = next((ROOT / ".venv/lib").glob("python3*/site-packages"))
    lines = [str(today)]
    # Sanic sets sanic-ext up by itself when it can import it, and its /docs clashes with the older
    # code's own: a revision from before sanic-ext came in may not import it.
    has_sanic_ext = (
        subprocess.run(
            ["git", "-C", str(ROOT), "merge-base", "--is-ancestor", SANIC_EXT_SINCE, rev]
        ).returncode
        == 0
    )
    if not has_sanic_ext:
        lines.append('import sys; sys.modules.setdefault("sanic_ext", None)')
    (site / "_halo_today_dependencies.pth").write_text("\n".join(lines) + "\n")
    subprocess.run(
        [str(venv / "bin/pip"), "install", "--quiet", "--no-deps", "-e", str(tree)],
        check=True,
        capture_output=True,
    )
    return tree, venv / "bin/halo"


def remove_tree(tree: Path) -> None:
    subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], capture_output=True)
    shutil.rmtree(tree.parent, ignore_errors=True)
    subprocess.run(["git", "-C", str(ROOT), "worktree", "prune"], capture_output=True)


def running_order(names: list[str], round_number: int, references: int | None = None) -> list[str]:
    """The order of one round's runs (see `paired`)."""
    if references is None:
        return names if round_number % 2 == 0 else names[::-1]
    order = names[:references]
    compared = names[references:]
    for first, second in zip(compared[::2], compared[1::2], strict=True):
        order += [first, second] if round_number % 2 == 0 else [second, first]
    return order


def ratio(rows: list[dict[str, float]], top: str, bottom: str) -> float:
    """The median over the rounds of the ratio inside each round (both sides measured back to back)."""
    return statistics.median(row[top] / row[bottom] for row in rows if row[bottom])


class Round(Bench):
    def __init__(self) -> None:
        super().__init__()
        self.worktree: Path | None = None
        self.old_halo: Path | None = None
        self.token = ""
        self.probe_ids: list[int] = []
        self.now_server: Server | None = None  # today's HALO, started in a, kept for c and d

    # the round's start, built apart

    def build_base(self) -> Path:
        self.worktree, halo = build_revision(BASE)
        return halo

    def remove_base(self) -> None:
        if self.worktree is not None:
            remove_tree(self.worktree)

    def base_server(self, name: str = "halo-base", **extra: str) -> Server:
        assert self.old_halo is not None
        return self.start(
            Server(name, [str(self.old_halo), "serve"], self.halo_env(1, **extra), free_port(), SERVER_CPUS)
        )

    # sections

    def section_a(self) -> dict[str, Any]:
        self.old_halo = self.build_base()
        # Warm means warm on both sides for the whole section: with the default cache TTL (60 s) the
        # 10,000 rows the warm-up filled in one burst all expire together every minute, and the
        # refill storm lands on whichever pair is being measured then (a 6 s run at half speed).
        new = self.halo(1, SERVER_CPUS, "halo-now", **WARM)
        old = self.base_server(**WARM)
        hello = self.reference("hello.py", 1, SERVER_CPUS, "/hello")
        floor = self.reference("detail.py", 1, SERVER_CPUS, "/videos/1")
        try:
            self.ensure_token(new.url)
            with httpx.Client(timeout=10) as http:  # the old code takes today's token?
                probe = http.get(
                    f"{old.url}/api/v1/videos/{self.probe_ids[0]}",
                    headers={"Authorization": f"Bearer {self.token}"},
                )
            for server in (new, old):
                fill_caches(server.url, 1, CLIENT_CPUS)
                # and the caller's own state: today's build caches each (user, video) like it read
                # from PostgreSQL, so the first pass with the token would be cold reads
                fill_caches(server.url, 1, CLIENT_CPUS, {"TOKEN": self.token})
            fill_caches(floor.url, 1, CLIENT_CPUS, {"PATH_PREFIX": "/videos/"})
            token = {**HOT, "TOKEN": self.token}
            plans: dict[str, Plan] = {
                "floor": (floor.url, "detail.lua", {**HOT, "PATH_PREFIX": "/videos/"}),
                "hello": (hello.url, "fixed.lua", {"PATH_FIXED": "/hello"}),
                "detail_now": (new.url, "detail.lua", HOT),
                "detail_base": (old.url, "detail.lua", HOT),
                "detail_token_now": (new.url, "detail.lua", token),
                "detail_token_base": (old.url, "detail.lua", token),
                "api_root_now": (new.url, "fixed.lua", {"PATH_FIXED": "/api/v1"}),
                "api_root_base": (old.url, "fixed.lua", {"PATH_FIXED": "/api/v1"}),
            }
            result = paired(plans, label="a", references=2)
            rows = result["pairs"]
            result["base"] = subprocess.run(
                ["git", "-C", str(ROOT), "log", "-1", "--format=%h %s", BASE], capture_output=True, text=True
            ).stdout.strip()
            result["now"] = subprocess.run(
                ["git", "-C", str(ROOT), "log", "-1", "--format=%h %s"], capture_output=True, text=True
            ).stdout.strip()
            result["dirty"] = bool(
                subprocess.run(
                    ["git", "-C", str(ROOT), "status", "--porcelain", "--", "service"],
                    capture_output=True,
                    text=True,
                ).stdout.strip()
            )
            result["base_token_probe_status"] = probe.status_code
            result["ratios"] = {
                "detail now/base": ratio(rows, "detail_now", "detail_base"),
                "detail_token now/base": ratio(rows, "detail_token_now", "detail_token_base"),
                "api_root now/base": ratio(rows, "api_root_now", "api_root_base"),
                "detail now/floor": ratio(rows, "detail_now", "floor"),
                "detail base/floor": ratio(rows, "detail_base", "floor"),
                "detail_token now/floor": ratio(rows, "detail_token_now", "floor"),
                "detail_token base/floor": ratio(rows, "detail_token_base", "floor"),
                "api_root now/hello": ratio(rows, "api_root_now", "hello"),
                "api_root base/hello": ratio(rows, "api_root_base", "hello"),
            }
            return result
        finally:
            for server in (old, hello, floor):
                server.stop()
            self.now_server = new  # kept for b (FAST_PATH is on by default), c and d

    def section_b(self) -> dict[str, Any]:
        fast = self.halo(1, SERVER_CPUS, "halo-fast-path-on", FAST_PATH="true")
        plain = self.halo(1, SERVER_CPUS, "halo-fast-path-off", FAST_PATH="false")
        try:
            for server in (fast, plain):
                fill_caches(server.url, 1, CLIENT_CPUS)
            plans: dict[str, Plan] = {
                "detail_on": (fast.url, "detail.lua", HOT),
                "detail_off": (plain.url, "detail.lua", HOT),
                "api_root_on": (fast.url, "fixed.lua", {"PATH_FIXED": "/api/v1"}),
                "api_root_off": (plain.url, "fixed.lua", {"PATH_FIXED": "/api/v1"}),
            }
            result = paired(plans, label="b")
            result["fast_path_off_warning"] = "fast path off" in fast.log.read_text()
            result["ratios"] = {
                "detail on/off": ratio(result["pairs"], "detail_on", "detail_off"),
                "api_root on/off": ratio(result["pairs"], "api_root_on", "api_root_off"),
            }
            return result
        finally:
            fast.stop()
            plain.stop()

    def today(self) -> Server:
        server = self.now_server
        if server is None or server.process is None or server.process.poll() is not None:
            server = self.now_server = self.halo(1, SERVER_CPUS, "halo-now", **WARM)
        self.ensure_token(server.url)
        return server

    def ensure_token(self, url: str) -> None:
        if not self.token:
            ((_, _, self.token),) = self.accounts(url, 1)
        if not self.probe_ids:
            with httpx.Client(base_url=url, timeout=30) as http:
                self.probe_ids = [
                    item["id"] for item in http.get("/api/v1/videos", params={"limit": 100}).json()["items"]
                ]

    def section_c(self) -> dict[str, Any]:
        server = self.today()
        video = self.probe_ids[0]
        path = f"/api/v1/videos/{video}"
        with httpx.Client(base_url=server.url, timeout=10) as http:
            first = http.get(path)
            tag = first.headers.get("etag")
            if not tag:
                return {"skipped": f"no ETag header on GET {path} (status {first.status_code})"}
            again = http.get(path, headers={"If-None-Match": tag})
        if again.status_code != 304:
            return {
                "skipped": f"ETag {tag} present, but If-None-Match with it answered {again.status_code}, not 304"
            }
        plans: dict[str, Plan] = {
            "detail_200": (server.url, "conditional.lua", {"PATH_FIXED": path}),
            "detail_304": (server.url, "conditional.lua", {"PATH_FIXED": path, "IF_NONE_MATCH": tag}),
        }
        result = paired(plans, label="c")
        with httpx.Client(base_url=server.url, timeout=10) as http:
            result["still_304_after"] = http.get(path, headers={"If-None-Match": tag}).status_code == 304
        result["video"] = video
        result["etag"] = tag
        result["ratios"] = {"304/200": ratio(result["pairs"], "detail_304", "detail_200")}
        return result

    def section_d(self) -> dict[str, Any]:
        server = self.today()
        result: dict[str, Any] = {"notes": []}
        plans: dict[str, Plan] = {}
        list_path = "/api/v1/videos?limit=20"
        ids = self.probe_ids[:50]
        batch_path = "/api/v1/videos?ids=" + ",".join(str(i) for i in ids)
        with httpx.Client(base_url=server.url, timeout=10) as http:
            authed = http.get(list_path, headers={"Authorization": f"Bearer {self.token}"})
            items = authed.json().get("items", []) if authed.status_code == 200 else []
            if items and all(isinstance(item.get("viewer"), dict) for item in items):
                plans["list_anonymous"] = (server.url, "fixed.lua", {"PATH_FIXED": list_path})
                plans["list_token"] = (
                    server.url,
                    "fixed.lua",
                    {"PATH_FIXED": list_path, "TOKEN": self.token},
                )
            else:
                result["notes"].append(
                    f"list with a token: no `viewer` object on its items (status {authed.status_code}); skipped"
                )
            batch = http.get(batch_path)
            found = len(batch.json().get("items", [])) if batch.status_code == 200 else 0
            if batch.status_code == 200 and found:
                plans["batch_50_ids"] = (server.url, "fixed.lua", {"PATH_FIXED": batch_path})
                result["batch_items"] = found
            else:
                result["notes"].append(f"`?ids=` with {len(ids)} ids answered {batch.status_code}; skipped")
        if not plans:
            return {"skipped": "; ".join(result["notes"])}
        if "list_anonymous" in plans:
            # the anonymous first page (cached: halo.services.first_pages) and a page in view-count
            # order (read from PostgreSQL every time) against the warm detail read, on one worker
            fill_caches(server.url, 1, CLIENT_CPUS)
            plans["detail_warm"] = (server.url, "detail.lua", HOT)
            plans["list_by_views"] = (
                server.url,
                "fixed.lua",
                {"PATH_FIXED": list_path + "&sort=-view_count"},
            )
        result.update(paired(plans, rounds=2 if QUICK else 4, label="d"))
        if "list_token" in plans:
            rows = result["pairs"]
            result["ratios"] = {
                "list token/anonymous": ratio(rows, "list_token", "list_anonymous"),
                "list anonymous/detail": ratio(rows, "list_anonymous", "detail_warm"),
                "list by views/detail": ratio(rows, "list_by_views", "detail_warm"),
            }
        return result

    def section_e(self) -> dict[str, Any]:
        if self.now_server is not None:
            self.now_server.stop()
        halo = self.halo(2, None, "halo-register-flood", BCRYPT_ROUNDS="12", REGISTER_MAX_PER_IP="1000000000")
        try:
            idle = h2load_open_loop([f"{halo.url}/health/live"], 200, 3, connections=4)
            flood: dict[str, Any] = {}

            def run_flood() -> None:
                flood.update(
                    wrk_self_reporting(
                        halo.url,
                        "register.lua",
                        env={"PREFIX": uuid.uuid4().hex[:8]},
                        connections=20,
                        seconds=FLOOD_SECONDS,
                    )
                )

            thread = threading.Thread(target=run_flood)
            thread.start()
            time.sleep(1.5)
            live = h2load_open_loop([f"{halo.url}/health/live"], 200, FLOOD_SECONDS - 3, connections=4)
            thread.join()
            if not flood:
                raise RuntimeError("the registration flood's wrk printed no report (see the traceback above)")
            statuses = flood["statuses"]
            return {
                "workers": 2,
                "bcrypt_rounds": 12,
                "live_idle": idle,
                "live_during_flood": live,
                "flood": flood,
                "registered_201": statuses.get("201", 0),
                "shed_503": statuses.get("503", 0),
                "other_statuses": {k: v for k, v in statuses.items() if k not in ("201", "503")},
                "commands": {
                    "flood": f"PREFIX=<random> wrk -t1 -c20 -d{FLOOD_SECONDS}s --timeout 10s -s bench/lua/register.lua {halo.url}",
                    "live": f"h2load --h1 -c 4 -t 1 --rps 50 -r 1 --rate-period 1ms -n {200 * (FLOOD_SECONDS - 3)} "
                    f"{halo.url}/health/live (started 1.5 s into the flood)",
                },
            }
        finally:
            halo.stop()


def wrk_self_reporting(
    url: str, script: str, *, env: dict[str, str], connections: int, seconds: int
) -> dict[str, Any]:
    """wrk with a script that prints its own JSON line (register.lua: statuses counted too)."""
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(LUA / script), url],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        preexec_fn=_raise_nofile,
    ).stdout
    report = json.loads(next(line for line in out.splitlines() if line.startswith("{")))
    duration = report["duration_us"] / 1e6
    return {
        "rps": report["requests"] / duration,
        "p50": report["p50_us"] / 1000,
        "p99": report["p99_us"] / 1000,
        "requests": report["requests"],
        "errors": report["connect_errors"]
        + report["read_errors"]
        + report["write_errors"]
        + report["timeouts"],
        "statuses": report["statuses"],
    }


# --- the report ---------------------------------------------------------------------


def write_round_report(results: dict[str, Any], info: dict[str, str]) -> str:
    out = [
        "# This round's changes, measured in one run",
        "",
        f"`make bench-round` (bench/round.py) finished {results.get('finished_at')} UTC in "
        f"{results.get('elapsed_seconds', 0) / 60:.1f} min"
        + (" — **BENCH_QUICK=1: a quick try, noisy**" if QUICK else "")
        + ".",
        f"Machine: {info.get('cpu')}, {info.get('cores')} cores, {info.get('memory')}; Python {info.get('python')}; "
        f"{info.get('wrk')}; {info.get('h2load')}.",
        f"Seeded {results.get('videos')} videos, {results.get('users')} users; warm = random ids in 1..{HOT_SET}, "
        f"every one cached first. One worker pinned to CPU {SERVER_CPUS}, wrk pinned to CPU {CLIENT_CPUS}, "
        f"{CONNECTIONS} connections; each figure is the median over back-to-back rounds of {PAIR_SECONDS} s runs, "
        "the order reversed every other round (section a: the floor and hello first, then each now and base "
        "one after the other, which first swapped every other round); ratios are the median of the ratios "
        "inside each round.",
        "Non-2xx on warm detail: the seed's adult-only videos (about 5% of them), refused to anonymous and "
        "non-adult callers alike on every side.",
        "",
    ]

    def failed(key: str, title: str) -> bool:
        section = results.get(key)
        if section is None:
            out.extend([f"## {title}", "", "Not run.", ""])
            return True
        if "error" in section:
            out.extend([f"## {title}", "", "Failed:", "", "```", section["error"].strip()[-2000:], "```", ""])
            return True
        if "skipped" in section:
            out.extend([f"## {title}", "", f"Skipped: {section['skipped']}", ""])
            return True
        return False

    def table(section: dict[str, Any]) -> None:
        out.extend(
            ["| run | req/s (median) | p99 ms (median) | non-2xx | errors |", "|---|---:|---:|---:|---:|"]
        )
        for name, row in section["median"].items():
            out.append(
                f"| {name} | {row['rps']:,.0f} | {row['p99']:.1f} | {row['non2xx']} | {row['errors']} |"
            )
        out.append("")
        if section.get("ratios"):
            out.extend(["| ratio | value |", "|---|---:|"])
            out.extend(f"| {name} | {value:.2f} |" for name, value in section["ratios"].items())
            out.append("")
        out.extend(["Commands (each run; report.lua appended):", "", "```"])
        out.extend(f"{name}: {row['command']}" for name, row in section["median"].items())
        out.extend(["```", ""])

    title = "a. The round's start against now"
    if not failed("a", title):
        a = results["a"]
        out.extend(
            [
                f"## {title}",
                "",
                f"base: `{a['base']}` (built in a throwaway worktree); now: `{a['now']}`"
                + (" plus uncommitted changes under service/" if a.get("dirty") else "")
                + f". The base answered today's token with {a['base_token_probe_status']}.",
                "",
            ]
        )
        table(a)
    title = "b. The fast path's worth (FAST_PATH=true against false)"
    if not failed("b", title):
        b = results["b"]
        out.extend([f"## {title}", ""])
        if b.get("fast_path_off_warning"):
            out.extend(
                ["**The FAST_PATH=true server logged `fast path off`: both sides ran the plain way.**", ""]
            )
        table(b)
    title = "c. Conditional GET (If-None-Match)"
    if not failed("c", title):
        c = results["c"]
        out.extend(
            [
                f"## {title}",
                "",
                f"One video ({c['video']}), tag `{c['etag']}` fetched once; detail_304 sends it, detail_200 does not. "
                f"Still 304 after the runs: {c['still_304_after']}.",
                "",
            ]
        )
        table(c)
    title = "d. List pages with and without a token, against warm detail, and the batch read"
    if not failed("d", title):
        d = results["d"]
        out.extend([f"## {title}", ""])
        out.extend(f"- {note}" for note in d.get("notes", []))
        if d.get("batch_items"):
            out.append(f"- batch_50_ids: 50 ids asked, {d['batch_items']} items answered.")
        out.append("")
        table(d)
    title = "e. /health/live during a registration flood"
    if not failed("e", title):
        e = results["e"]
        live, idle, flood = e["live_during_flood"], e["live_idle"], e["flood"]
        out.extend(
            [
                f"## {title}",
                "",
                f"2 workers (not pinned), BCRYPT_ROUNDS=12, REGISTER_MAX_PER_IP huge, PASSWORD_QUEUE_MAX default; "
                f"20 connections registering a new account per request for {FLOOD_SECONDS} s.",
                "",
                "| /health/live (200 req/s, open loop) | requests | 2xx | p50 ms | p99 ms | max ms |",
                "|---|---:|---:|---:|---:|---:|",
                f"| idle | {idle['requests']} | {idle['ok']} | {idle['p50']:.2f} | {idle['p99']:.2f} | {idle['max']:.2f} |",
                f"| during the flood | {live['requests']} | {live['ok']} | {live['p50']:.2f} | {live['p99']:.2f} | "
                f"{live['max']:.2f} |",
                "",
                f"Registrations: {flood['requests']} completed ({flood['rps']:.1f}/s; those in flight at the end "
                f"are not counted), **{e['registered_201']} got 201, "
                f"{e['shed_503']} got 503**, other statuses {e['other_statuses'] or 'none'}, {flood['errors']} socket "
                f"errors/timeouts; register p50 {flood['p50']:.0f} ms, p99 {flood['p99']:.0f} ms.",
                "",
                "```",
                e["commands"]["flood"],
                e["commands"]["live"],
                "```",
                "",
            ]
        )
    out.extend(
        [
            "## Reproduce",
            "",
            "```",
            "make bench-round                 # full length (~12 min)",
            "BENCH_QUICK=1 make bench-round   # a ~5-minute try (noisy)",
            "ROUND_ONLY=a,b ROUND_BASE=871217a ROUND_ROUNDS=6 .venv/bin/python bench/round.py",
            "```",
            "",
        ]
    )
    return "\n".join(out)


def main() -> int:
    for tool in ("wrk", "h2load", "taskset", "ss", "psql", "redis-server", "git"):
        if shutil.which(tool) is None:
            print(f"bench-round: {tool} is missing")
            return 1
    _raise_nofile()
    bench = Round()
    from run import USERS, VIDEOS

    # the interpreter as the checkout names it (never this machine's absolute path)
    python = Path(os.path.abspath(PYTHON))  # not resolve(): the venv's python is a symlink out of it
    shown = python.relative_to(ROOT).as_posix() if python.is_relative_to(ROOT) else python.name
    bench.results.update(videos=VIDEOS, users=USERS, quick=QUICK, base=BASE, python=shown)
    sections: dict[str, Callable[[], dict[str, Any]]] = {
        "a": bench.section_a,
        "b": bench.section_b,
        "c": bench.section_c,
        "d": bench.section_d,
        "e": bench.section_e,
    }
    only = [name for name in os.environ.get("ROUND_ONLY", "").split(",") if name]
    try:
        print("seeding...", flush=True)
        bench.setup()
        for name, run in sections.items():
            if only and name not in only:
                continue
            print(f"section {name}...", flush=True)
            started = time.monotonic()
            try:
                bench.results[name] = run()
            except Exception:
                bench.results[name] = {"error": traceback.format_exc()}
                print(bench.results[name]["error"], flush=True)
            bench.results[name]["seconds"] = round(time.monotonic() - started, 1)
    finally:
        with contextlib.suppress(Exception):
            bench.teardown()
        bench.remove_base()
    bench.results["elapsed_seconds"] = time.time() - bench.started
    bench.results["finished_at"] = f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M}"
    (HERE / "round.json").write_text(json.dumps(bench.results, indent=1, default=str))
    try:
        report = write_round_report(bench.results, machine())
    except Exception:
        report = "# This round's changes\n\nThe report failed; the figures are in round.json.\n\n```\n"
        report += traceback.format_exc() + "```\n"
    (HERE / "ROUND.md").write_text(report)
    print(f"wrote {HERE / 'ROUND.md'} and {HERE / 'round.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
