"""Batched histogram counts written straight into prometheus-client's histogram child.

prometheus-client keeps one value per bucket (not cumulative) and the sum (`_buckets`, `_sum`):
adding a batch there is what `observe()` would do once per observation, without its lock, pid
check and file write each time. tests/unit/test_metrics_batching.py compares the two.
"""

from __future__ import annotations

from typing import Any


def add_bucket_counts(child: Any, counts: list[float]) -> None:
    """`counts`: one count per bucket (+Inf last), then the sum of the observed values."""
    for index, count in enumerate(counts[:-1]):
        if count:
            child._buckets[index].inc(count)
    child._sum.inc(counts[-1])
