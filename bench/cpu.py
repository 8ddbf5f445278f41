"""CPU time a warm anonymous detail request costs, for several revisions side by side.

    python bench/cpu.py REV [REV ...]        # e.g. 871217a c87075f HEAD; "." is the working tree
    CPU_ROUNDS (default 4), CPU_SECONDS (default 6)

Where throughput pairs move with the machine's mood, the worker's own CPU a request (user +
system, from /proc/<pid>/stat, over one wrk run) moves much less. Reuses bench/round.py's harness:
one seeded database and redis-server, each revision built in a throwaway worktree (`build_revision`)
and served by one worker pinned to CPU 0 (wrk on CPU 1), every hot id cached first. Each revision
has a Redis database of its own (so no build reads another's keys) and a small PostgreSQL pool
(warm reads use none). At most four revisions: every server sits on the measured core. The revisions run in rotating order,
reversed every other round; the median of the rounds is printed per revision.
"""

from __future__ import annotations

import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from round import (
    CLIENT_CPUS,
    HOT,
    SERVER_CPUS,
    WARM,
    Round,
    Server,
    build_revision,
    fill_caches,
    free_port,
    remove_tree,
    wrk,
)
from run import ROOT

ROUNDS = int(os.environ.get("CPU_ROUNDS", "4"))
SECONDS = int(os.environ.get("CPU_SECONDS", "6"))
# Every server shares the measured core: with seven, one revision's runs swung from 192 to 357 µs;
# with four they stay within about 10%. (Their pools, 8 connections each, fit max_connections.)
MAX_REVISIONS = 4
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def main(revisions: list[str]) -> int:
    if not revisions or len(revisions) > MAX_REVISIONS:
        print(f"usage: python bench/cpu.py REV [REV ...] (1 to {MAX_REVISIONS}; '.' is the working tree)")
        return 2
    bench = Round()
    trees: list[Path] = []
    costs: dict[str, list[float]] = {rev: [] for rev in revisions}
    try:
        bench.setup()
        servers: dict[str, Server] = {}
        for number, rev in enumerate(revisions, start=1):
            if rev == ".":
                halo = ROOT / ".venv/bin/halo"
            else:
                tree, halo = build_revision(rev)
                trees.append(tree)
            env = bench.halo_env(1, DATABASE_POOL_MAX="8", **WARM)
            env["REDIS_URL"] = bench.redis_url.rsplit("/", 1)[0] + f"/{number}"
            servers[rev] = bench.start(Server(rev, [str(halo), "serve"], env, free_port(), SERVER_CPUS))
        for server in servers.values():
            fill_caches(server.url, 1, CLIENT_CPUS)
        for round_number in range(ROUNDS):
            shift = round_number % len(revisions)
            order = revisions[shift:] + revisions[:shift]
            for rev in order if round_number % 2 == 0 else order[::-1]:
                pid = servers[rev].worker_pids()[0]
                before = cpu_seconds(pid)
                result = wrk(servers[rev].url, "detail.lua", env=HOT, seconds=SECONDS, cpus=CLIENT_CPUS)
                costs[rev].append(1e6 * (cpu_seconds(pid) - before) / max(1, result["requests"]))
            print(f"round {round_number + 1}: " + ", ".join(f"{r} {costs[r][-1]:.0f} µs" for r in revisions))
    finally:
        bench.teardown()
        for tree in trees:
            remove_tree(tree)
    for rev in revisions:
        runs = ", ".join(f"{cost:.0f}" for cost in costs[rev])
        print(f"{rev}: median {statistics.median(costs[rev]):.0f} µs a request ({runs})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
