"""The capacity model's arithmetic (bench/capacity.py), and docs/capacity.md kept in step with it."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("capacity", ROOT / "bench" / "capacity.py")
assert _spec is not None and _spec.loader is not None
capacity = importlib.util.module_from_spec(_spec)
sys.modules["capacity"] = capacity  # dataclasses look their module up
_spec.loader.exec_module(capacity)

PathCost, Assumptions = capacity.PathCost, capacity.Assumptions
# a cache big enough that detail never misses, unless a test says otherwise
NO_MISSES = Assumptions(workers_per_pod=4, cpu_target=0.5, hot_videos=0)


def test_per_worker_rate_is_the_harmonic_mean_of_the_paths() -> None:
    costs = {"a": PathCost(per_worker_rps=1000), "b": PathCost(per_worker_rps=250)}
    assert capacity.per_worker_rate(costs, {"a": 0.5, "b": 0.5}) == pytest.approx(400)


def test_pods_are_the_rate_over_the_pods_planned_throughput() -> None:
    costs = {"detail": PathCost(per_worker_rps=1000)}
    plan = capacity.plan(10_000, costs, {"detail": 1.0}, NO_MISSES)
    assert plan.pods == 5  # 10,000 / (1,000 x 4 workers x 50%)
    assert plan.workers == 20
    assert plan.max_pods == math.ceil(5 * NO_MISSES.burst)


def test_reads_go_to_replicas_once_one_node_is_not_enough_and_writes_stay_on_the_primary() -> None:
    costs = {
        "read": PathCost(per_worker_rps=1000, pg_statements=1, pg_cpu_ms=1.0),
        "write": PathCost(per_worker_rps=1000, pg_statements=2, pg_writes=1, pg_cpu_ms=0.1, primary=True),
    }
    mix = {"read": 0.9, "write": 0.1}
    small = capacity.plan(1_000, costs, mix, NO_MISSES)
    assert small.pg_replicas == 0  # 0.9 + 0.01 vCPU: the primary takes both
    big = capacity.plan(100_000, costs, mix, NO_MISSES)
    assert big.pg_read_vcpus == pytest.approx(90)
    assert big.pg_replicas == math.ceil(90 / (16 * 0.6))
    assert big.pg_write_statements == pytest.approx(10_000)  # commits: the INSERTs and UPDATEs only
    assert big.pg_primary_vcpus == 16  # 1 vCPU of writes


def test_pgbouncer_comes_in_when_the_pools_exceed_max_connections() -> None:
    costs = {"detail": PathCost(per_worker_rps=1000, pg_round_trips=1)}
    tiny = capacity.plan(1_000, costs, {"detail": 1.0}, NO_MISSES)
    # 2 pods (the floor), HPA max 3 + 1 surge, x 4 workers x 8 = 128 > 100
    assert tiny.client_connections == 128
    assert tiny.bouncers == 2
    many = capacity.plan(1_000_000, costs, {"detail": 1.0}, NO_MISSES)
    assert many.bouncers == max(
        math.ceil(1_000_000 / (20_000 * 0.7)), math.ceil(many.client_connections / 10_000)
    )
    fits = capacity.plan(1_000, costs, {"detail": 1.0}, Assumptions(workers_per_pod=1, hot_videos=0))
    assert fits.client_connections + 10 <= 100
    assert fits.bouncers == 0


def test_redis_is_one_server_until_its_cpu_is_used_then_a_cluster_of_at_least_three() -> None:
    costs = {"detail": PathCost(per_worker_rps=1000, redis_cpu_us=10)}
    one = capacity.plan(50_000, costs, {"detail": 1.0}, NO_MISSES)
    assert (one.redis_cluster, one.redis_shards) == (False, 1)  # 0.5 of a core
    many = capacity.plan(1_000_000, costs, {"detail": 1.0}, NO_MISSES)
    assert many.redis_cluster
    assert many.redis_shards == math.ceil(10 / 0.7)  # 10 cores at 70%

    def with_publishes(per_request: float) -> Any:
        cost = PathCost(per_worker_rps=1000, redis_cpu_us=10, redis_publishes=per_request)
        return capacity.plan(1_000_000, {"detail": cost}, {"detail": 1.0}, NO_MISSES)

    broadcast = with_publishes(0.02)  # 20k PUBLISH/s x 5 us: a tenth of every shard's core
    assert broadcast.redis_shards > many.redis_shards
    assert not broadcast.redis_spublish
    flood = with_publishes(0.1)  # half of every shard's core: only sharded pub/sub scales
    assert flood.redis_spublish
    assert flood.redis_shards == many.redis_shards
    assert any("SPUBLISH" in note for note in flood.notes)


def test_detail_misses_grow_with_the_workers() -> None:
    a = Assumptions(hot_videos=10_000, video_cache_size=20_000, video_cache_ttl=60)
    assert capacity.detail_miss_ratio(100_000 / 6, 10, a) == pytest.approx(0.1)
    assert capacity.detail_miss_ratio(100_000 / 6, 20, a) == pytest.approx(0.2)
    assert capacity.detail_miss_ratio(10, 20, a) == 1.0
    costs = {
        "detail": PathCost(per_worker_rps=1000, pg_statements=0),
        "detail_cold": PathCost(per_worker_rps=500, pg_statements=1),
    }
    blended = capacity.blended_costs(costs, 0.5)["detail"]
    assert blended.pg_statements == pytest.approx(0.5)
    assert blended.per_worker_rps == pytest.approx(1 / (0.5 / 1000 + 0.5 / 500))


def test_first_bottleneck_from_the_charts_defaults_is_the_connection_budget_when_cpu_bound() -> None:
    costs = {"detail": PathCost(per_worker_rps=1000, pg_cpu_ms=0.01, redis_cpu_us=1)}
    steps = capacity.plan_steps(costs, {"detail": 1.0}, NO_MISSES, steps=(10_000, 100_000))
    assert steps[0].bottleneck == "connections"  # the defaults' 4 pods are all PostgreSQL's 100 take
    assert steps[1].bottleneck == "pods"  # with PgBouncer, the 10k plan runs out of pods first
    expensive_reads = {"detail": PathCost(per_worker_rps=1000, pg_cpu_ms=5.0)}
    first = capacity.plan_steps(expensive_reads, {"detail": 1.0}, NO_MISSES, steps=(10_000,))[0]
    assert first.bottleneck == "primary"
    assert first.limits["primary"] == pytest.approx(16 * 0.6 / 0.005)


def test_the_document_and_the_chart_examples_are_what_the_model_renders() -> None:
    measured = json.loads((ROOT / "bench" / "capacity.json").read_text())
    rates, source = measured["throughput"]["per_worker_rps"], measured["throughput"]["source"]
    doc = (ROOT / "docs" / "capacity.md").read_text()
    start, end = doc.index(capacity.START), doc.index(capacity.END) + len(capacity.END)
    assert doc[start:end] == capacity.render(measured, rates, source), (
        "run `python bench/capacity.py --render`"
    )
    for step in capacity.plan_steps(capacity.costs_from(measured, rates)):
        path = ROOT / "charts" / "halo" / "examples" / f"capacity-{capacity.label(step.rps).lower()}.yaml"
        assert path.read_text() == capacity.chart_values(step), (
            f"{path.name}: run `python bench/capacity.py --render`"
        )
