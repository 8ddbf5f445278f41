"""The capacity model: what 10k, 100k and 1M requests a second need, into docs/capacity.md.

Two halves. The measurement (`measure`) starts a private PostgreSQL cluster with
pg_stat_statements loaded, a private redis-server and one HALO worker, and counts for
each path (warm and cold detail, first list page, like, view, login) the PostgreSQL
statements and the Redis commands one request costs: statement counts are diffed in
pg_stat_statements for the server's own role, Redis commands in `INFO commandstats`
after `CONFIG RESETSTAT` (on the private Redis only), each path run twice (one request
at a time, then 16 at once under wrk) with the idle background subtracted. Counts do not
depend on the machine's speed, so a loaded machine measures them as well as an idle one.

The model (pure functions: `plan`, `plan_steps`) takes those costs, the per-worker
throughput of each path from `make bench` (bench/results.json, 1 worker pinned to one
core) and the stated assumptions (`Assumptions`), and sizes pods, PostgreSQL primary and
read replicas, PgBouncer and Redis Cluster shards for each step, with the first
bottleneck met on the way to each step and what removes it.

`python bench/capacity.py` measures, writes bench/capacity.json and renders;
`python bench/capacity.py --render` renders again from bench/capacity.json (no servers).
Rendering rewrites the generated part of docs/capacity.md (between the markers) and the
chart examples charts/halo/examples/capacity-*.yaml. `make bench` runs it as its
`capacity` section (BENCH_ONLY=capacity: print only).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
COSTS_FILE = HERE / "capacity.json"
RESULTS_FILE = HERE / "results.json"
DOC = ROOT / "docs" / "capacity.md"
EXAMPLES = ROOT / "charts" / "halo" / "examples"
START = "<!-- generated:capacity:start -->"
END = "<!-- generated:capacity:end -->"

STEPS = (10_000, 100_000, 1_000_000)

# The paths of the model, and the bench/results.json endpoint each one's per-worker rate comes from.
PATHS = ("detail", "list", "like", "view", "login")
THROUGHPUT_KEYS = {
    "detail": "detail_warm",
    "detail_cold": "detail_cold",
    "list": "list_first_page",
    "like": "like",
    "view": "views",
    "login": "login",
}
LABELS = {
    "detail": "`GET /api/v1/videos/{id}` (warm)",
    "detail_cold": "`GET /api/v1/videos/{id}` (cache miss)",
    "list": "`GET /api/v1/videos?limit=20` (first page)",
    "like": "`PUT /api/v1/videos/{id}/like`",
    "view": "`POST /api/v1/videos/{id}/views`",
    "login": "`POST /api/v1/auth/login`",
}

# The mix: the share of each path in the traffic (sums to 1). See docs/capacity.md for why.
MIX = {"detail": 0.70, "list": 0.15, "like": 0.05, "view": 0.098, "login": 0.002}

# Statements that are a transaction's frame, not work: they cost a round trip, little CPU.
FRAME = (
    "BEGIN",
    "COMMIT",
    "ROLLBACK",
    "START TRANSACTION",
    "SAVEPOINT",
    "RELEASE",
    "SET ",
    "RESET",
    "DISCARD",
)
WRITE = re.compile(r"\b(INSERT|UPDATE|DELETE)\b", re.IGNORECASE)
# Redis commands the measurement itself sends.
OWN_REDIS = {"info", "config|resetstat", "config", "ping", "client|setname", "hello"}


# --- the model --------------------------------------------------------------------------


@dataclass(frozen=True)
class PathCost:
    """One request of a path: where it goes and what it costs."""

    per_worker_rps: float  # one worker on one core, from `make bench`
    pg_statements: float = 0.0  # PostgreSQL statements (transaction frames not counted)
    pg_writes: float = 0.0  # of which INSERT, UPDATE or DELETE: commits on the primary
    pg_round_trips: float = 0.0  # every statement the pooler sees, frames included
    pg_cpu_ms: float = 0.0  # CPU of every PostgreSQL process, a request
    redis_commands: float = 0.0  # commands Redis executes, those run inside scripts included
    redis_cpu_us: float = 0.0  # redis-server's CPU, a request
    redis_publishes: float = 0.0  # PUBLISH (a Redis Cluster broadcasts these to every node)
    primary: bool = False  # True: its PostgreSQL work is the primary's (writes); False: a replica's


@dataclass(frozen=True)
class Assumptions:
    """The figures the model does not measure, each stated in docs/capacity.md."""

    workers_per_pod: int = 4  # one worker a core: CPU request = workers
    cpu_target: float = 0.70  # the HPA's targetCPUUtilizationPercentage
    burst: float = 1.5  # maxReplicas = pods needed x burst
    surge: float = 0.10  # rollingUpdate.maxSurge as a share of the pods
    pool_max: int = 8  # DATABASE_POOL_MAX (the chart's database.poolMax)
    # each worker also keeps a pool of DATABASE_POOL_MAX (+1) to every replica (DATABASE_REPLICA_URLS)
    # video cache: a worker reads each hot video again once a TTL
    hot_videos: int = 10_000
    video_cache_size: int = 20_000
    video_cache_ttl: float = 60.0
    # PostgreSQL (per node)
    pg_vcpus: int = 16  # a replica, and the smallest primary
    pg_primary_max_vcpus: int = 64  # the biggest primary one would buy before sharding
    pg_core_speed: float = 1.0  # a database vCPU against one core of the machine that measured
    pg_target: float = 0.60
    pg_primary_commits: float = 20_000.0  # durable commits/s of one primary (group commit, NVMe)
    pg_max_connections: int = 100  # one server without a pooler (the chart's default budget)
    pg_server_connections: int = 64  # per node behind PgBouncer (about 4 per vCPU)
    # PgBouncer (one process, single-threaded)
    bouncer_round_trips: float = 20_000.0
    bouncer_max_client_conn: int = 10_000
    bouncer_target: float = 0.70
    # Redis (one shard: one main thread)
    redis_core_speed: float = 1.0
    redis_target: float = 0.70
    redis_publish_us: float = 5.0  # what one PUBLISH costs each other node of a cluster
    redis_commands_per_shard: float = 100_000.0  # the rule of thumb, shown beside the CPU figure
    redis_min_cluster_shards: int = 3


WHY = {
    "workers_per_pod": "one worker a core; the pod's CPU request and limit are the worker count",
    "cpu_target": "the HPA's targetCPUUtilizationPercentage: the headroom for a burst while pods start",
    "burst": "HPA maxReplicas over the pods the step needs",
    "surge": "rollingUpdate.maxSurge as a share of the pods (counted in the connection budget)",
    "pool_max": "DATABASE_POOL_MAX (database.poolMax); each worker keeps poolMax + 1 to every replica too",
    "hot_videos": "videos read within one cache TTL, every one by every worker (uniform: pessimistic)",
    "video_cache_size": "VIDEO_CACHE_SIZE",
    "video_cache_ttl": "VIDEO_CACHE_TTL_SECONDS: a worker reads each hot video again once a TTL",
    "pg_vcpus": "a read replica, and the smallest primary",
    "pg_primary_max_vcpus": "the largest primary before writes must be cut or sharded",
    "pg_core_speed": "a database vCPU against one core of the measuring machine",
    "pg_target": "PostgreSQL nodes planned at this CPU share (failover, vacuum, checkpoints)",
    "pg_primary_commits": "durable commits/s of one primary with group commit on NVMe (not measured: "
    "the measuring cluster runs with fsync off)",
    "pg_max_connections": "max_connections of one server without a pooler (the chart's default budget)",
    "pg_server_connections": "server connections a node gives PgBouncer (about 4 a vCPU)",
    "bouncer_round_trips": "statements/s one PgBouncer process (single-threaded) forwards; published "
    "figures are 30-60k on a modern core",
    "bouncer_max_client_conn": "max_client_conn of one PgBouncer process",
    "bouncer_target": "PgBouncer processes planned at this CPU share",
    "redis_core_speed": "a Redis node's core against one core of the measuring machine",
    "redis_target": "Redis main threads planned at this CPU share",
    "redis_publish_us": "CPU a PUBLISH costs every other node of a Redis Cluster (it is broadcast)",
    "redis_commands_per_shard": "the usual rule of thumb, for comparison only (it counts a script's inner "
    "commands as full commands)",
    "redis_min_cluster_shards": "the smallest Redis Cluster (three masters)",
}


@dataclass
class Plan:
    rps: float
    pods: int
    workers: int
    max_pods: int
    surge: int
    per_worker_rps: float
    detail_miss_ratio: float
    pg_read_statements: float
    pg_write_statements: float
    pg_round_trips: float
    pg_read_vcpus: float
    pg_write_vcpus: float
    pg_primary_vcpus: int
    pg_replicas: int
    client_connections: int
    bouncers: int  # PgBouncer processes in front of the primary
    bouncer_pool_size: int  # server connections of each
    replica_bouncers: int  # PgBouncer processes in front of each replica
    replica_bouncer_pool_size: int
    redis_commands: float
    redis_cores: float
    redis_publishes: float
    redis_shards: int
    redis_shards_by_commands: int
    redis_cluster: bool
    redis_spublish: bool
    limits: dict[str, float] = field(default_factory=dict)  # req/s at which each part saturates
    bottleneck: str = ""
    notes: list[str] = field(default_factory=list)


def mixed(
    costs: dict[str, PathCost], mix: dict[str, float], attribute: str, primary: bool | None = None
) -> float:
    """The mix's average of one per-request figure (of the primary's paths, or the others', only)."""
    return sum(
        share * getattr(costs[path], attribute)
        for path, share in mix.items()
        if primary is None or costs[path].primary == primary
    )


def detail_miss_ratio(detail_rps: float, workers: int, a: Assumptions) -> float:
    """Share of detail reads that miss the worker's video cache: each worker reads each hot video
    again once every VIDEO_CACHE_TTL_SECONDS, however many workers share the traffic."""
    if detail_rps <= 0:
        return 0.0
    cached = min(a.hot_videos, a.video_cache_size)
    return min(1.0, workers * cached / a.video_cache_ttl / detail_rps)


def blended_costs(costs: dict[str, PathCost], miss: float) -> dict[str, PathCost]:
    """Detail as the mix of warm and cold reads at the given miss ratio."""
    if "detail_cold" not in costs or "detail" not in costs:
        return costs
    warm, cold = costs["detail"], costs["detail_cold"]

    def mean(name: str) -> float:
        return (1 - miss) * getattr(warm, name) + miss * getattr(cold, name)

    seconds = (1 - miss) / warm.per_worker_rps + miss / cold.per_worker_rps
    names = (
        "pg_statements",
        "pg_writes",
        "pg_round_trips",
        "pg_cpu_ms",
        "redis_commands",
        "redis_cpu_us",
        "redis_publishes",
    )
    detail = replace(warm, per_worker_rps=1 / seconds, **{name: mean(name) for name in names})
    return {**costs, "detail": detail}


def per_worker_rate(costs: dict[str, PathCost], mix: dict[str, float]) -> float:
    """Requests a second one worker serves at the mix: the harmonic mean of the paths' rates."""
    return 1 / sum(share / costs[path].per_worker_rps for path, share in mix.items())


def at_scale(rps: float, workers: int, costs: dict[str, PathCost], mix: dict[str, float], a: Assumptions):
    """The costs at `rps` over `workers` workers: detail misses the more, the more workers."""
    return blended_costs(costs, detail_miss_ratio(rps * mix.get("detail", 0), workers, a))


def pg_load(
    rps: float, costs: dict[str, PathCost], mix: dict[str, float], a: Assumptions
) -> tuple[float, float]:
    """vCPUs of reads (a replica's work) and of writes (the primary's) at `rps`."""
    reads = rps * mixed(costs, mix, "pg_cpu_ms", primary=False) / 1e3 / a.pg_core_speed
    writes = rps * mixed(costs, mix, "pg_cpu_ms", primary=True) / 1e3 / a.pg_core_speed
    return reads, writes


def redis_shard_rate(
    costs: dict[str, PathCost], mix: dict[str, float], shards: int, a: Assumptions, broadcast: bool = True
) -> float:
    """Requests a second `shards` shards take at their target (1: a single server, no broadcast)."""
    seconds = mixed(costs, mix, "redis_cpu_us") / 1e6 / a.redis_core_speed
    publish = (
        mixed(costs, mix, "redis_publishes") * a.redis_publish_us / 1e6 if shards > 1 and broadcast else 0.0
    )
    per_request_per_shard = seconds / shards + publish * (shards - 1) / shards
    return a.redis_target / per_request_per_shard if per_request_per_shard else math.inf


def plan(
    rps: float,
    costs: dict[str, PathCost],
    mix: dict[str, float] = MIX,
    a: Assumptions = Assumptions(),
) -> Plan:
    """What `rps` requests a second at `mix` need."""
    assert abs(sum(mix.values()) - 1) < 1e-9, "the mix must sum to 1"
    # Pods, with the detail path's cache misses: more workers miss more, misses are slower.
    workers, blended = a.workers_per_pod, costs
    for _ in range(50):
        blended = at_scale(rps, workers, costs, mix, a)
        pods = max(2, math.ceil(rps / (per_worker_rate(blended, mix) * a.workers_per_pod * a.cpu_target)))
        if pods * a.workers_per_pod == workers:
            break
        workers = pods * a.workers_per_pod
    rate = per_worker_rate(blended, mix)
    max_pods = math.ceil(pods * a.burst)
    surge = max(1, math.ceil(pods * a.surge))
    notes: list[str] = []

    # PostgreSQL: the primary takes the writes (up to its largest size), replicas the reads; one node
    # takes both while it can.
    reads, writes = pg_load(rps, blended, mix, a)
    primary_vcpus = max(a.pg_vcpus, 2 ** math.ceil(math.log2(max(1.0, writes / a.pg_target))))
    commits = rps * mixed(blended, mix, "pg_writes")
    if primary_vcpus > a.pg_primary_max_vcpus or commits > a.pg_primary_commits * a.pg_target:
        notes.append(
            f"the primary's writes ({commits:,.0f} statements/s, {writes:,.1f} vCPU) are beyond one primary "
            f"({a.pg_primary_max_vcpus} vCPU, {a.pg_primary_commits:,.0f} commits/s assumed): fewer writes a "
            "request (likes written behind, as views are) or the tables sharded by video"
        )
    if reads + writes <= primary_vcpus * a.pg_target:
        replicas = 0
    else:
        replicas = math.ceil(reads / (a.pg_vcpus * a.pg_target))

    # Connections: every worker's pools at the HPA's ceiling plus the surge. Past one server's
    # max_connections, PgBouncer (transaction pooling) in front of each node: the primary's group takes
    # the write paths' round trips, each replica's group its share of the reads'.
    workers_max = (max_pods + surge) * a.workers_per_pod
    client_connections = workers_max * (a.pool_max + replicas * (a.pool_max + 1))
    trips = rps * mixed(blended, mix, "pg_round_trips")
    read_trips = rps * mixed(blended, mix, "pg_round_trips", primary=False) if replicas else 0.0
    per_process = a.bouncer_round_trips * a.bouncer_target
    bouncers = replica_bouncers = pool_size = replica_pool_size = 0
    if client_connections + 10 > a.pg_max_connections:
        bouncers = max(
            2,  # two, for availability
            math.ceil((trips - read_trips) / per_process),
            math.ceil(workers_max * a.pool_max / a.bouncer_max_client_conn),
        )
        pool_size = max(1, a.pg_server_connections // bouncers)
        if replicas:
            replica_bouncers = max(
                1,
                math.ceil(read_trips / replicas / per_process),
                math.ceil(workers_max * (a.pool_max + 1) / a.bouncer_max_client_conn),
            )
            replica_pool_size = max(1, a.pg_server_connections // replica_bouncers)
        if pool_size < 4:
            notes.append(
                f"the primary's {bouncers} PgBouncer processes share its {a.pg_server_connections} server "
                f"connections ({pool_size} each): the primary's round trips are the thing to cut"
            )

    # Redis: one server while one is enough, else a cluster, where every PUBLISH reaches every node.
    commands = rps * mixed(blended, mix, "redis_commands")
    publishes = rps * mixed(blended, mix, "redis_publishes")
    cores = rps * mixed(blended, mix, "redis_cpu_us") / 1e6 / a.redis_core_speed
    spublish = False
    if redis_shard_rate(blended, mix, 1, a) >= rps:
        shards, cluster = 1, False
    else:
        cluster = True
        broadcast = publishes * a.redis_publish_us / 1e6  # of a core, on every shard
        if broadcast >= a.redis_target / 2:
            spublish = True
            notes.append(
                f"{publishes:,.0f} PUBLISH/s would take {broadcast:.0%} of every shard's core (a Redis Cluster "
                "broadcasts each one to every node): the shards count assumes sharded pub/sub (SPUBLISH)"
            )
        shards = a.redis_min_cluster_shards
        while redis_shard_rate(blended, mix, shards, a, broadcast=not spublish) < rps:
            shards += 1
    by_commands = math.ceil(commands / (a.redis_commands_per_shard * a.redis_target))

    return Plan(
        rps=rps,
        pods=pods,
        workers=pods * a.workers_per_pod,
        max_pods=max_pods,
        surge=surge,
        per_worker_rps=rate,
        detail_miss_ratio=detail_miss_ratio(rps * mix.get("detail", 0), pods * a.workers_per_pod, a),
        pg_read_statements=rps * mixed(blended, mix, "pg_statements", primary=False),
        pg_write_statements=commits,
        pg_round_trips=trips,
        pg_read_vcpus=reads,
        pg_write_vcpus=writes,
        pg_primary_vcpus=primary_vcpus,
        pg_replicas=replicas,
        client_connections=client_connections,
        bouncers=bouncers,
        bouncer_pool_size=pool_size,
        replica_bouncers=replica_bouncers,
        replica_bouncer_pool_size=replica_pool_size,
        redis_commands=commands,
        redis_cores=cores,
        redis_publishes=publishes,
        redis_shards=shards,
        redis_shards_by_commands=by_commands,
        redis_cluster=cluster,
        redis_spublish=spublish,
        notes=notes,
    )


@dataclass(frozen=True)
class Deployment:
    """What runs before a step: the chart's defaults, or the previous step's plan."""

    name: str
    max_pods: int
    workers_per_pod: int
    pg_primary_vcpus: int
    pg_replicas: int
    bouncers: int
    redis_shards: int
    replica_bouncers: int = 0
    redis_spublish: bool = False


CHART_DEFAULTS = Deployment(
    "the chart's defaults (HPA up to 4 pods of 2 workers, one 16-vCPU PostgreSQL, one Redis, no pooler)",
    max_pods=4,
    workers_per_pod=2,
    pg_primary_vcpus=16,
    pg_replicas=0,
    bouncers=0,
    redis_shards=1,
)

REMEDIES = {
    "pods": "more pods: raise the HPA's maxReplicas (the workers are CPU-bound and scale out linearly)",
    "connections": "PgBouncer in transaction mode between the pods and PostgreSQL: the pods' pools become "
    "its client connections, PostgreSQL sees a fixed server pool a node; then more pods fit the budget",
    "primary": "the reads moved to read replicas (DATABASE_REPLICA_URLS) and, for the writes, a bigger primary",
    "replicas": "more read replicas (DATABASE_REPLICA_URLS)",
    "pgbouncer": "more PgBouncer processes",
    "redis": "Redis Cluster (the chart's redis.cluster) and more shards",
}


def remedy(step: Plan) -> str:
    """What removes the step's first bottleneck, as the step's plan does it."""
    if step.bottleneck == "redis" and step.redis_shards > 1:
        text = f"a Redis Cluster of {step.redis_shards} shards (the chart's redis.cluster)"
        if step.redis_spublish:
            text += ", with the live feeds on sharded pub/sub (SPUBLISH) instead of PUBLISH"
        return text
    if step.bottleneck == "replicas":
        return f"{step.pg_replicas} read replicas (DATABASE_REPLICA_URLS)"
    if step.bottleneck == "pods":
        return (
            f"more pods: HPA maxReplicas {step.max_pods} (the workers are CPU-bound and scale out linearly)"
        )
    return REMEDIES[step.bottleneck]


# On a tie the part that more pods cannot fix is named first.
PRIORITY = ("connections", "primary", "replicas", "pgbouncer", "redis", "pods")


def limits(
    deployment: Deployment, costs: dict[str, PathCost], mix: dict[str, float], a: Assumptions
) -> dict[str, float]:
    """The request rate at which each part of `deployment` reaches its planned utilisation."""

    def pods_rate(workers: int) -> float:
        rate = per_worker_rate(costs, mix)
        for _ in range(20):
            rate = per_worker_rate(at_scale(workers * rate * a.cpu_target, workers, costs, mix, a), mix)
        return workers * rate * a.cpu_target

    workers = deployment.max_pods * deployment.workers_per_pod
    out: dict[str, float] = {"pods": pods_rate(workers)}
    at = at_scale(out["pods"], workers, costs, mix, a)
    if deployment.bouncers == 0:
        # the most pods whose pools (plus a surge pod) fit max_connections, whatever maxReplicas says
        fitting = (a.pg_max_connections - 10) // (a.pool_max * deployment.workers_per_pod) - 1
        out["connections"] = pods_rate(max(0, fitting) * deployment.workers_per_pod)
    reads, writes = pg_load(1.0, at, mix, a)
    commits = mixed(at, mix, "pg_writes")
    primary = deployment.pg_primary_vcpus * a.pg_target
    if deployment.pg_replicas == 0:
        out["primary"] = _over(primary, reads + writes)
    else:
        out["primary"] = min(_over(primary, writes), _over(a.pg_primary_commits * a.pg_target, commits))
        out["replicas"] = _over(deployment.pg_replicas * a.pg_vcpus * a.pg_target, reads)
    if deployment.bouncers:
        per_process = a.bouncer_round_trips * a.bouncer_target
        read_trips = mixed(at, mix, "pg_round_trips", primary=False) if deployment.pg_replicas else 0.0
        out["pgbouncer"] = _over(
            deployment.bouncers * per_process, mixed(at, mix, "pg_round_trips") - read_trips
        )
        if deployment.pg_replicas:
            group = deployment.replica_bouncers * deployment.pg_replicas * per_process
            out["pgbouncer"] = min(out["pgbouncer"], _over(group, read_trips))
    out["redis"] = redis_shard_rate(
        at, mix, deployment.redis_shards, a, broadcast=not deployment.redis_spublish
    )
    return out


def _over(capacity: float, per_request: float) -> float:
    return capacity / per_request if per_request > 0 else math.inf


def first_to_saturate(limits: dict[str, float]) -> str:
    return min(limits, key=lambda name: (limits[name], PRIORITY.index(name)))


def plan_steps(
    costs: dict[str, PathCost],
    mix: dict[str, float] = MIX,
    a: Assumptions = Assumptions(),
    steps: tuple[int, ...] = STEPS,
) -> list[Plan]:
    """A plan for each step, with the first part of the previous deployment to saturate on the way."""
    plans = []
    before = CHART_DEFAULTS
    for rps in steps:
        step = plan(rps, costs, mix, a)
        step.limits = limits(before, costs, mix, a)
        step.bottleneck = first_to_saturate(step.limits)
        plans.append(step)
        before = Deployment(
            f"the {label(rps)} plan",
            max_pods=step.max_pods,
            workers_per_pod=a.workers_per_pod,
            pg_primary_vcpus=step.pg_primary_vcpus,
            pg_replicas=step.pg_replicas,
            bouncers=step.bouncers,
            redis_shards=step.redis_shards,
            replica_bouncers=step.replica_bouncers,
            redis_spublish=step.redis_spublish,
        )
    return plans


def label(rps: float) -> str:
    return f"{rps / 1e6:g}M" if rps >= 1e6 else f"{rps / 1e3:g}k"


# --- costs from the measurement and the bench ------------------------------------------------


def throughput(results: dict[str, Any] | None) -> tuple[dict[str, float], str]:
    """Per-worker req/s of each path from `make bench`'s results (1 worker on one core)."""
    if not results:
        return {}, ""
    workers = results.get("workers", {})
    one = workers.get(1) or workers.get("1")
    if not one:
        return {}, ""
    endpoints = one["endpoints"]
    rates = {path: endpoints[key]["rps"] for path, key in THROUGHPUT_KEYS.items() if key in endpoints}
    # the capacity section runs before the run's end is stamped: then it is this run, of today
    when = results.get("finished_at") or f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime())}"
    return rates, f"`make bench` of {when} UTC (1 worker pinned to one core)"


def costs_from(measured: dict[str, Any], rates: dict[str, float]) -> dict[str, PathCost]:
    """PathCosts from the measurement and the rates: counts from the larger of the two passes
    (conservative), CPU from the pass under load (one request at a time, each wakes the servers up
    alone: a cost that load shares out)."""
    costs = {}
    for path, passes in measured["paths"].items():
        if path not in rates:
            continue

        def most(name: str, passes: dict[str, Any] = passes) -> float:
            return max(p[name] for p in passes.values())

        costs[path] = PathCost(
            per_worker_rps=rates[path],
            pg_statements=most("pg_statements"),
            pg_writes=most("pg_writes"),
            pg_round_trips=most("pg_round_trips"),
            redis_commands=most("redis_commands"),
            redis_publishes=most("redis_publishes"),
            pg_cpu_ms=passes["concurrent"]["pg_cpu_ms"],
            redis_cpu_us=passes["concurrent"]["redis_cpu_us"],
            primary=path in ("like", "view", "login"),
        )
    return costs


# --- the measurement ---------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pg_binary(name: str) -> str:
    import glob

    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True) or [shutil.which(name)]
    if not found[0]:
        raise RuntimeError(f"{name} is missing (Debian: apt-get install postgresql)")
    return found[0]


class PrivatePostgres:
    """A PostgreSQL cluster of the measurement's own, with pg_stat_statements loaded (the shared
    server is not restarted for it)."""

    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="halo-capacity-pg-"))
        self.port = _free_port()

    def _run(self, *command: str) -> None:
        if os.geteuid() == 0:  # initdb and pg_ctl refuse to run as root
            shutil.chown(self.directory, "postgres", "postgres")
            command = ("runuser", "-u", "postgres", "--", *command)
        subprocess.run(command, check=True, capture_output=True, timeout=180)

    def start(self) -> str:
        self.directory.chmod(0o755)
        data = str(self.directory / "data")
        self._run(_pg_binary("initdb"), "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8")
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.directory} "
            "-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=top "
            "-c fsync=off -c synchronous_commit=off -c max_connections=100"
        )
        log = str(self.directory / "log")
        self._run(_pg_binary("pg_ctl"), "-D", data, "-o", options, "-l", log, "-w", "start")
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def pids(self) -> list[int]:
        """The postmaster and its children (backends, WAL writer, checkpointer, ...)."""
        return children(int((self.directory / "data" / "postmaster.pid").read_text().split()[0]))

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._run(
                _pg_binary("pg_ctl"), "-D", str(self.directory / "data"), "-m", "immediate", "-w", "stop"
            )
        shutil.rmtree(self.directory, ignore_errors=True)


def _psql(url: str, sql: str) -> str:
    return subprocess.run(["psql", url, "-XAtqc", sql], check=True, capture_output=True, text=True).stdout


def pg_snapshot(url: str, role: str) -> Counter[str]:
    """Calls of each statement the role has run in this database."""
    out = _psql(
        url,
        "SELECT coalesce(json_object_agg(queryid::text || ' ' || left(query, 200), calls), '{}') "
        "FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid "
        f"WHERE r.rolname = '{role}' AND s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    return Counter({key: int(value) for key, value in json.loads(out).items()})


def _query(key: str) -> str:
    return key.split(" ", 1)[1]


def process_cpu(pids: list[int]) -> float:
    """CPU seconds (user + system) the processes have used."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def children(parent: int) -> list[int]:
    found = [parent]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == parent:
                found.append(int(stat.parent.name))
    return found


def redis_reset(port: int) -> None:
    subprocess.run(["redis-cli", "-p", str(port), "CONFIG", "RESETSTAT"], check=True, capture_output=True)


def redis_commands(port: int) -> Counter[str]:
    out = subprocess.run(
        ["redis-cli", "-p", str(port), "INFO", "commandstats"], check=True, capture_output=True, text=True
    ).stdout
    counts: Counter[str] = Counter()
    for line in out.splitlines():
        if line.startswith("cmdstat_"):
            name, rest = line[len("cmdstat_") :].split(":", 1)
            stats = dict(item.split("=") for item in rest.split(","))
            if name not in OWN_REDIS:
                counts[name] = int(stats["calls"])
    return counts


@dataclass
class Window:
    """What the server did in PostgreSQL and Redis while one pass ran."""

    requests: int
    seconds: float
    statements: Counter[str]
    redis: Counter[str]
    pg_cpu: float = 0.0  # CPU seconds of every PostgreSQL process
    redis_cpu: float = 0.0  # CPU seconds of redis-server


def _per_request(window: Window, idle: Window) -> dict[str, Any]:
    """A pass's counts a request, the idle background (per second) subtracted."""

    def background(counter: Counter[str], key: str) -> float:
        return counter.get(key, 0) / idle.seconds * window.seconds if idle.seconds else 0.0

    statements = {
        key: max(0.0, calls - background(idle.statements, key)) for key, calls in window.statements.items()
    }
    redis = {key: max(0.0, calls - background(idle.redis, key)) for key, calls in window.redis.items()}
    n = max(1, window.requests)
    work = {k: v for k, v in statements.items() if not _query(k).lstrip().upper().startswith(FRAME)}
    scripts = sum(v for k, v in redis.items() if k in ("evalsha", "eval", "fcall", "evalsha_ro", "eval_ro"))

    def cpu(name: str) -> float:
        spent = getattr(window, name) - (
            getattr(idle, name) / idle.seconds * window.seconds if idle.seconds else 0
        )
        return max(0.0, spent) / n

    return {
        "requests": window.requests,
        "pg_cpu_ms": round(cpu("pg_cpu") * 1e3, 4),
        "redis_cpu_us": round(cpu("redis_cpu") * 1e6, 2),
        "pg_statements": round(sum(work.values()) / n, 3),
        "pg_writes": round(sum(v for k, v in work.items() if WRITE.search(_query(k))) / n, 3),
        "pg_round_trips": round(sum(statements.values()) / n, 3),
        "redis_commands": round(sum(redis.values()) / n, 3),
        "redis_scripts": round(scripts / n, 3),
        "redis_publishes": round(sum(v for k, v in redis.items() if k in ("publish", "spublish")) / n, 3),
        "statements": {
            _query(k)[:120]: round(v / n, 3)
            for k, v in sorted(statements.items(), key=lambda kv: -kv[1])
            if v / n >= 0.005
        },
        "redis": {
            k: round(v / n, 3) for k, v in sorted(redis.items(), key=lambda kv: -kv[1]) if v / n >= 0.005
        },
    }


def measure(quick: bool = False) -> dict[str, Any]:
    """Count each path's PostgreSQL statements and Redis commands on a real server."""
    import httpx
    import run  # bench/run.py: its Server, Bench environment and wrk

    sequential = 40 if quick else 200
    seconds = 2 if quick else 4
    postgres = PrivatePostgres()
    redis_port = _free_port()
    redis = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(redis_port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    bench = run.Bench()
    server = None
    try:
        admin = postgres.start()
        base = admin.rsplit("/", 1)[0]
        _psql(admin, "CREATE ROLE halo LOGIN SUPERUSER")
        _psql(admin, "CREATE DATABASE halo OWNER halo")
        database = f"{base}/halo"
        _psql(database, "CREATE EXTENSION pg_stat_statements")
        bench.database_url = database.replace("postgres@", "halo@")
        bench.redis_url = f"redis://127.0.0.1:{redis_port}/0"
        # DATABASE_POOLER=pgbouncer as at every step of the model (no statement cache: a parse a statement)
        env = bench.halo_env(
            1,
            VIEW_FLUSH_INTERVAL_SECONDS="1",
            DATABASE_POOLER="pgbouncer",
            DATABASE_MIGRATION_URL=bench.database_url,
            # the trending refresh is the fleet's periodic job, not a request's: out of the windows
            TRENDING_REFRESH_SECONDS="3600",
        )
        halo = str(ROOT / ".venv/bin/halo")
        subprocess.run([halo, "migrate"], env=env, check=True, capture_output=True)
        videos = 20_000
        subprocess.run(
            [halo, "seed", "--force", "--users", "200", "--videos", str(videos)],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        server = bench.start(run.Server("capacity", [halo, "serve"], env, run.free_port()))
        (email, password, _), *others = bench.accounts(server.url, 41)
        tokens = [token for _, _, token in others]
        http = httpx.Client(base_url=server.url, timeout=30)
        warm = (1, 1000)
        for video in range(warm[0], warm[1] + 1):  # every warm id into the worker's cache
            http.get(f"/api/v1/videos/{video}")
        cold = iter(range(1001, videos + 1))  # each id read once: a miss each

        def window(action: Any, settle: float = 0.3) -> Window:
            before = pg_snapshot(database, "halo")
            redis_reset(redis_port)
            pg_pids = postgres.pids()
            cpu_before = process_cpu(pg_pids), process_cpu([redis.pid])
            started = time.monotonic()
            requests = action()
            time.sleep(settle)
            elapsed = time.monotonic() - started
            # backends opened meanwhile (the pool grows under load) count from zero
            cpu_after = process_cpu(postgres.pids()), process_cpu([redis.pid])
            statements = pg_snapshot(database, "halo") - before
            return Window(
                requests,
                elapsed,
                statements,
                redis_commands(redis_port),
                cpu_after[0] - cpu_before[0],
                cpu_after[1] - cpu_before[1],
            )

        idle = window(lambda: (time.sleep(5), 0)[1], settle=0)
        rng = __import__("random").Random(7)
        one_at_a_time = {
            "detail": lambda: http.get(f"/api/v1/videos/{rng.randint(*warm)}"),
            "detail_cold": lambda: http.get(f"/api/v1/videos/{next(cold)}"),
            "list": lambda: http.get("/api/v1/videos", params={"limit": 20}),
            "view": lambda: http.post(f"/api/v1/videos/{rng.randint(*warm)}/views"),
            "like": lambda: http.put(
                f"/api/v1/videos/{rng.randint(*warm)}/like",
                headers={"Authorization": f"Bearer {rng.choice(tokens)}"},
            ),
            "login": lambda: http.post("/api/v1/auth/login", json={"email": email, "password": password}),
        }
        concurrent: dict[str, tuple[str, dict[str, str], int]] = {
            "detail": ("detail.lua", {"ID_MIN": str(warm[0]), "ID_MAX": str(warm[1])}, 16),
            "detail_cold": ("detail.lua", {"ID_MIN": "3001", "ID_MAX": str(videos), "SEQUENTIAL": "1"}, 16),
            "list": ("fixed.lua", {"PATH_FIXED": "/api/v1/videos?limit=20"}, 16),
            "like": (
                "tokens.lua",
                {"ID_MIN": str(warm[0]), "ID_MAX": str(warm[1]), "TOKENS": ",".join(tokens)},
                16,
            ),
            "view": ("post.lua", {"ID_MIN": str(warm[0]), "ID_MAX": str(warm[1])}, 16),
            "login": ("login.lua", {"EMAIL": email, "PASSWORD": password}, 4),
        }
        paths: dict[str, Any] = {}
        for path, request in one_at_a_time.items():
            for video in range(warm[0], warm[1] + 1):  # the warm ids again: the cache's TTL is 60 s
                http.get(f"/api/v1/videos/{video}")
            count = 30 if path == "login" else sequential
            if path == "detail_cold":
                count = min(count, 1000)

            def serial(request: Any = request, count: int = count) -> int:
                statuses = Counter(request().status_code for _ in range(count))
                assert set(statuses) <= {200, 202, 204, 404}, statuses
                return count

            settle = 1.6 if path == "view" else 0.3  # the view flush runs once a second
            first = window(serial, settle)
            script, script_env, connections = concurrent[path]
            if path == "detail_cold":  # wrk's range starts past the ids read one at a time
                script_env = {**script_env, "ID_MIN": str(1001 + count + 1)}

            def loaded(
                script: str = script, script_env: dict[str, str] = script_env, c: int = connections
            ) -> int:
                return run.wrk(server.url, script, env=script_env, connections=c, seconds=seconds)["requests"]

            second = window(loaded, settle)
            paths[path] = {
                "one_at_a_time": _per_request(first, idle),
                "concurrent": _per_request(second, idle),
            }
            print(
                f"  {path:12s} pg {paths[path]['one_at_a_time']['pg_statements']:.2f}/"
                f"{paths[path]['concurrent']['pg_statements']:.2f}  redis "
                f"{paths[path]['one_at_a_time']['redis_commands']:.2f}/{paths[path]['concurrent']['redis_commands']:.2f}"
                " (one at a time / 16 at once)",
                flush=True,
            )
        http.close()
        return {
            "measured_at": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
            "idle_seconds": round(idle.seconds, 1),
            "idle": {
                "statements_per_second": round(sum(idle.statements.values()) / idle.seconds, 2),
                "redis_commands_per_second": round(sum(idle.redis.values()) / idle.seconds, 2),
            },
            "paths": paths,
        }
    finally:
        postgres.stop()
        redis.send_signal(signal.SIGTERM)
        with contextlib.suppress(Exception):
            redis.wait(10)
        if server is not None:
            server.stop()


# --- rendering ---------------------------------------------------------------------------


def _n(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def render(
    measured: dict[str, Any], rates: dict[str, float], source: str, a: Assumptions = Assumptions()
) -> str:
    """The generated part of docs/capacity.md."""
    costs = costs_from(measured, rates)
    plans = plan_steps(costs, MIX, a)
    lines = [
        START,
        "",
        f"<!-- written by bench/capacity.py from bench/capacity.json ({measured['measured_at']} UTC) and "
        f"{source or 'no bench results'}; edit the prose outside these markers only -->",
        "",
        "#### Per request, measured",
        "",
        "| path | share of the mix | req/s per worker | PostgreSQL statements | round trips (with BEGIN/COMMIT) "
        "| PostgreSQL CPU ms | Redis commands | Redis CPU µs | of which scripts | PUBLISH | PostgreSQL node |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for path in ("detail", "detail_cold", "list", "like", "view", "login"):
        if path not in measured["paths"]:
            continue
        passes = measured["paths"][path]
        worst = {k: max(p[k] for p in passes.values()) for k in ("redis_scripts",)}
        cost = costs.get(path)
        share = f"{MIX[path]:.1%}" if path in MIX else "(misses of the above)"
        lines.append(
            f"| {LABELS[path]} | {share} | {_n(rates.get(path, 0))} | "
            + " | ".join(
                f"{p['one_at_a_time'][k]:.2f} / {p['concurrent'][k]:.2f}"
                for p in (passes,)
                for k in ("pg_statements", "pg_round_trips")
            )
            + f" | {passes['one_at_a_time']['pg_cpu_ms']:.3f} / {passes['concurrent']['pg_cpu_ms']:.3f} | "
            + f"{passes['one_at_a_time']['redis_commands']:.2f} / {passes['concurrent']['redis_commands']:.2f} | "
            + f"{passes['one_at_a_time']['redis_cpu_us']:.0f} / {passes['concurrent']['redis_cpu_us']:.0f}"
            + f" | {worst['redis_scripts']:.2f} | {cost.redis_publishes if cost else 0:.2f} | "
            + ("primary" if cost and cost.primary else "replica")
            + " |"
        )
    lines += [
        "",
        "Each cell: one request at a time / 16 at once (the model takes the larger). Redis commands count "
        "those a Lua script runs; CPU is that of every PostgreSQL process and of redis-server over the pass, "
        "the idle background subtracted (on the measuring machine, loaded: indicative).",
        "",
        "<details><summary>The statements and commands of each path</summary>",
        "",
    ]
    for path, passes in measured["paths"].items():
        p = passes["one_at_a_time"]
        statements = (
            "; ".join(f"`{' '.join(q.split())[:70]}` {c:.2f}" for q, c in list(p["statements"].items())[:6])
            or "none"
        )
        commands = ", ".join(f"{k} {c:.2f}" for k, c in p["redis"].items()) or "none"
        lines.append(f"- **{path}**: PostgreSQL: {statements}. Redis: {commands}.")
    lines += ["", "</details>", ""]
    lines += ["#### Assumptions", "", "| | value | |", "| --- | ---: | --- |"]
    for name, value in asdict(a).items():
        lines.append(f"| `{name}` | {value:,} | {WHY.get(name, '')} |")
    lines.append("")
    mixed_rate = per_worker_rate(costs, MIX)
    lines += [
        f"At the mix one worker serves **{_n(mixed_rate)} req/s** with a warm cache "
        f"(a pod of {a.workers_per_pod} workers planned at {a.cpu_target:.0%} CPU: "
        f"{_n(mixed_rate * a.workers_per_pod * a.cpu_target)} req/s).",
        "",
        "#### Each step",
        "",
        "| | " + " | ".join(label(p.rps) + " req/s" for p in plans) + " |",
        "| --- |" + " ---: |" * len(plans),
    ]

    def row(name: str, values: list[str]) -> None:
        lines.append(f"| {name} | " + " | ".join(values) + " |")

    row("detail reads missing the worker cache", [f"{p.detail_miss_ratio:.1%}" for p in plans])
    row("req/s per worker at the mix", [_n(p.per_worker_rps) for p in plans])
    row(
        f"pods ({a.workers_per_pod} workers, {a.workers_per_pod} CPU)",
        [f"{p.pods:,} (HPA max {p.max_pods:,})" for p in plans],
    )
    row("PostgreSQL reads (statements/s)", [_n(p.pg_read_statements) for p in plans])
    row("PostgreSQL writes (statements/s)", [_n(p.pg_write_statements) for p in plans])
    row(
        "PostgreSQL CPU, reads / writes (vCPU)",
        [f"{p.pg_read_vcpus:,.1f} / {p.pg_write_vcpus:,.1f}" for p in plans],
    )
    row(
        "PostgreSQL primary",
        [
            f"{p.pg_primary_vcpus} vCPU"
            + (" (no such primary: see the note)" if p.pg_primary_vcpus > a.pg_primary_max_vcpus else "")
            for p in plans
        ],
    )
    row(f"read replicas ({a.pg_vcpus} vCPU)", [str(p.pg_replicas) for p in plans])
    row("client connections (pools at HPA max + surge)", [_n(p.client_connections) for p in plans])
    row(
        "PgBouncer processes: primary's (server connections each); each replica's",
        [
            (
                f"{p.bouncers} ({p.bouncer_pool_size})"
                + (f"; {p.replica_bouncers} ({p.replica_bouncer_pool_size})" if p.replica_bouncers else "")
            )
            if p.bouncers
            else "none"
            for p in plans
        ],
    )
    row("round trips through PgBouncer /s", [_n(p.pg_round_trips) for p in plans])
    row(
        "Redis commands/s (of which PUBLISH)",
        [f"{_n(p.redis_commands)} ({_n(p.redis_publishes)})" for p in plans],
    )
    row("Redis CPU (cores)", [f"{p.redis_cores:,.2f}" for p in plans])
    row(
        "Redis",
        [
            (f"Cluster, {p.redis_shards} shards" + (" (SPUBLISH)" if p.redis_spublish else ""))
            if p.redis_cluster
            else "one server"
            for p in plans
        ],
    )
    row(
        f"(shards at {a.redis_commands_per_shard:,.0f} commands/s, for comparison)",
        [str(p.redis_shards_by_commands) for p in plans],
    )
    row(
        "chart values",
        [
            f"[capacity-{label(p.rps).lower()}.yaml](../charts/halo/examples/capacity-{label(p.rps).lower()}.yaml)"
            for p in plans
        ],
    )
    lines += ["", "#### The first bottleneck on the way to each step", ""]
    before = CHART_DEFAULTS.name
    for p in plans:
        ordered = sorted(p.limits.items(), key=lambda kv: kv[1])
        saturations = ", ".join(f"{name} at {_n(value)} req/s" for name, value in ordered)
        lines.append(
            f"- **{label(p.rps)}**: from {before}, the first to saturate is **{p.bottleneck}** "
            f"({saturations}). Removed by: {remedy(p)}."
        )
        before = f"the {label(p.rps)} plan"
        for note in p.notes:
            lines.append(f"  Note at {label(p.rps)}: {note}.")
    # sensitivity: logins are bcrypt work
    heavy = {**MIX, "login": 0.02, "view": MIX["view"] - (0.02 - MIX["login"])}
    heavy_plans = plan_steps(costs, heavy, a)
    lines += [
        "",
        "#### Sensitivity",
        "",
        "| mix | " + " | ".join(f"pods at {label(p.rps)}" for p in plans) + " |",
        "| --- |" + " ---: |" * len(plans),
        f"| as above ({MIX['login']:.1%} logins) | " + " | ".join(f"{p.pods:,}" for p in plans) + " |",
        f"| 2% logins (views {heavy['view']:.1%}) | " + " | ".join(f"{p.pods:,}" for p in heavy_plans) + " |",
    ]
    long_ttl = replace(a, video_cache_ttl=600.0)
    ttl_plans = plan_steps(costs, MIX, long_ttl)
    lines.append(
        "| as above, `VIDEO_CACHE_TTL_SECONDS=600` | " + " | ".join(f"{p.pods:,}" for p in ttl_plans) + " |"
    )
    lines += [
        "",
        "| PostgreSQL reads/s with `VIDEO_CACHE_TTL_SECONDS` | "
        + " | ".join(label(p.rps) for p in plans)
        + " |",
        "| --- |" + " ---: |" * len(plans),
        "| 60 (default) | " + " | ".join(_n(p.pg_read_statements) for p in plans) + " |",
        "| 600 | " + " | ".join(_n(p.pg_read_statements) for p in ttl_plans) + " |",
        "",
        END,
    ]
    return "\n".join(lines)


def chart_values(step: Plan, a: Assumptions = Assumptions()) -> str:
    """Values for charts/halo for one step (the chart's own value names)."""
    lines = [
        f"# Generated by bench/capacity.py: the {label(step.rps)} req/s step of docs/capacity.md (which sizes",
        "# PostgreSQL, PgBouncer and Redis; this file is the chart's part). The Secret halo-database holds",
        "# the keys password, migration-url (a direct connection for `halo migrate`) and, with read",
        "# replicas, replica-urls (their PgBouncer URLs, comma-separated); halo-redis holds redis-url.",
        "image:",
        "  repository: registry.example.com/team/halo",
        f"workers: {a.workers_per_pod}",
        "resources:",
        "  requests:",
        f'    cpu: "{a.workers_per_pod}"',
        f"    memory: {a.workers_per_pod * 128}Mi",
        "  limits:",
        f'    cpu: "{a.workers_per_pod}"',
        f"    memory: {a.workers_per_pod * 256}Mi",
        "rollingUpdate:",
        f"  maxSurge: {step.surge}",
        "autoscaling:",
        "  enabled: true",
        f"  minReplicas: {step.pods}",
        f"  maxReplicas: {step.max_pods}",
        f"  targetCPUUtilizationPercentage: {round(a.cpu_target * 100)}",
        "  scaleUp:",
        "    stabilizationWindowSeconds: 0",
        f"    podsPerMinute: {max(4, math.ceil(step.pods * 0.2))}",
        "podDisruptionBudget:",
        "  enabled: true",
        f"  maxUnavailable: {max(1, step.pods // 10)}",
        "database:",
        "  existingSecret: halo-database",
        f"  poolMax: {a.pool_max}",
        "  reservedConnections: 10",
    ]
    if step.bouncers:
        lines += [
            f"  # PgBouncer (transaction pooling) in front of the primary: {step.bouncers} processes behind this",
            "  # Service, each with max_client_conn "
            f"{a.bouncer_max_client_conn} and default_pool_size {step.bouncer_pool_size}.",
            "  host: halo-pgbouncer",
            "  pooler: pgbouncer",
            f"  poolerServerConnections: {step.bouncers * step.bouncer_pool_size}",
            f"  poolerMaxClientConnections: {step.bouncers * a.bouncer_max_client_conn}",
            f"  maxConnections: {a.pg_max_connections}",
        ]
    else:
        lines += ["  host: halo-postgresql", f"  maxConnections: {a.pg_max_connections}"]
    lines += ["redis:", "  existingSecret: halo-redis"]
    if step.redis_cluster:
        lines += [
            f"  # redis-url names one node of the {step.redis_shards}-shard cluster; the client learns the others.",
            "  cluster: true",
        ]
    return "\n".join(lines) + "\n"


def write(measured: dict[str, Any], rates: dict[str, float], source: str) -> None:
    """Rewrite the generated part of docs/capacity.md and the chart examples."""
    block = render(measured, rates, source)
    text = DOC.read_text()
    start, end = text.index(START), text.index(END) + len(END)
    DOC.write_text(text[:start] + block + text[end:])
    costs = costs_from(measured, rates)
    EXAMPLES.mkdir(exist_ok=True)
    for step in plan_steps(costs):
        (EXAMPLES / f"capacity-{label(step.rps).lower()}.yaml").write_text(chart_values(step))


def _rates(results: dict[str, Any] | None) -> tuple[dict[str, float], str]:
    if results is None and RESULTS_FILE.exists():
        results = json.loads(RESULTS_FILE.read_text())
    return throughput(results)


def section(bench: Any) -> None:
    """`make bench`'s capacity section: count, then (in a full run) write bench/capacity.json and
    the document, with this run's per-worker figures if the workers section ran."""
    measured = measure(quick=os.environ.get("BENCH_QUICK") == "1")
    bench.results["capacity"] = measured
    if os.environ.get("BENCH_ONLY"):
        return
    rates, source = _rates(bench.results if bench.results.get("workers") else None)
    measured["throughput"] = {"source": source, "per_worker_rps": rates}
    COSTS_FILE.write_text(json.dumps(measured, indent=1) + "\n")
    write(measured, rates, source)


def main(argv: list[str]) -> int:
    if "--render" in argv:
        measured = json.loads(COSTS_FILE.read_text())
        rates, source = measured["throughput"]["per_worker_rps"], measured["throughput"]["source"]
    else:
        measured = measure(quick=os.environ.get("BENCH_QUICK") == "1")
        rates, source = _rates(None)
        missing = [THROUGHPUT_KEYS[p] for p in PATHS if p not in rates]
        if missing:
            print(
                f"no per-worker rates for {', '.join(missing)} in bench/results.json: run `make bench` first"
            )
            return 1
        measured["throughput"] = {"source": source, "per_worker_rps": rates}
        COSTS_FILE.write_text(json.dumps(measured, indent=1) + "\n")
    write(measured, rates, source)
    print(f"wrote {DOC.relative_to(ROOT)} and {EXAMPLES.relative_to(ROOT)}/capacity-*.yaml")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
