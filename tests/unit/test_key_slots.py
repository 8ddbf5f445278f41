"""Keys used together share a Redis Cluster hash slot, so every script and transaction stays on one node."""

from __future__ import annotations

from redis.crc import key_slot

from halo.engagement import redis_store
from halo.redis import login_throttle as throttle


def slots(*keys: str) -> set[int]:
    return {key_slot(key.encode()) for key in keys}


def test_a_videos_keys_share_one_slot_and_videos_spread_over_slots() -> None:
    for video in (1, 42, 9_000_000_001):
        assert (
            len(
                slots(
                    redis_store.counters_key(video),
                    redis_store.presence_key(video),
                    redis_store.gone_key(video),
                )
            )
            == 1
        )
    assert len(slots(*(redis_store.counters_key(video) for video in range(100)))) > 50


def test_the_view_batches_share_one_slot() -> None:
    keys = [
        redis_store.PENDING,
        redis_store.BATCHES,
        redis_store.APPLIED,
        redis_store.SEQ,
        redis_store.GONE_VIEWS,
        *(f"{redis_store.BATCH_PREFIX}{seq}" for seq in (1, 77, 123456)),  # the keys the scripts build
    ]
    assert len(slots(*keys)) == 1


def test_an_accounts_login_keys_share_one_slot() -> None:
    pair, account, good, _by_ip = throttle._keys("ada@example.com", "198.51.100.7")
    assert len(slots(pair, account, good)) == 1
