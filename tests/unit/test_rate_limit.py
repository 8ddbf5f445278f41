"""Token buckets: burst, refill, Retry-After, per-client isolation and bounded memory."""

from __future__ import annotations

from halo.security.token_bucket import TokenBucketLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_refusal_with_retry_after() -> None:
    clock = Clock()
    limiter = TokenBucketLimiter(rate=2, burst=3, clock=clock)
    decisions = [limiter.hit("a") for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions[:3]] == [2, 1, 0]
    assert decisions[3].retry_after == 1
    assert decisions[3].limit == 3


def test_refill_at_rate() -> None:
    clock = Clock()
    limiter = TokenBucketLimiter(rate=10, burst=1, clock=clock)
    assert limiter.hit("a").allowed
    assert not limiter.hit("a").allowed
    clock.now += 0.1
    assert limiter.hit("a").allowed


def test_retry_after_rounds_up_to_whole_seconds() -> None:
    clock = Clock()
    limiter = TokenBucketLimiter(rate=0.25, burst=1, clock=clock)
    limiter.hit("a")
    assert limiter.hit("a").retry_after == 4


def test_clients_have_separate_buckets() -> None:
    limiter = TokenBucketLimiter(rate=1, burst=1, clock=Clock())
    assert limiter.hit("a").allowed
    assert not limiter.hit("a").allowed
    assert limiter.hit("b").allowed


def test_idle_buckets_are_evicted() -> None:
    clock = Clock()
    limiter = TokenBucketLimiter(rate=100, burst=10, clock=clock)
    for i in range(500):
        limiter.hit(f"10.0.{i // 256}.{i % 256}")
    assert len(limiter) == 500
    clock.now += 5  # long enough for every bucket to be full again
    limiter.hit("fresh")
    assert len(limiter) == 1


def test_table_never_exceeds_its_bound() -> None:
    limiter = TokenBucketLimiter(rate=1, burst=5, max_clients=100, clock=Clock())
    for i in range(1000):
        limiter.hit(str(i))
    assert len(limiter) == 100


def test_evicted_client_starts_with_a_full_bucket_only_when_it_was_idle() -> None:
    clock = Clock()
    limiter = TokenBucketLimiter(rate=1, burst=2, clock=clock)
    limiter.hit("a")
    limiter.hit("a")
    assert not limiter.hit("a").allowed
    clock.now += 0.5  # not idle long enough: still limited after a sweep
    limiter.hit("other")
    assert not limiter.hit("a").allowed
