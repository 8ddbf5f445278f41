"""The link's bound on Redis calls in flight (cluster mode): a burst waits its turn, a stall fails fast."""

from __future__ import annotations

import asyncio

import pytest

from halo.redis.link import RedisLink, StoreUnavailable


class SlowClient:
    """Stands in for a Redis client whose calls take as long as the test says."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.most = 0
        self.release = asyncio.Event()

    async def call(self) -> str:
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        try:
            await self.release.wait()
            return "ok"
        finally:
            self.in_flight -= 1


async def test_calls_beyond_the_bound_wait_for_a_free_slot() -> None:
    client = SlowClient()
    link = RedisLink(client, max_in_flight=3, queue_timeout=10)
    calls = [asyncio.create_task(link.run(client.call, write=False)) for _ in range(20)]
    await asyncio.sleep(0.05)
    assert client.in_flight == 3
    client.release.set()
    assert await asyncio.gather(*calls) == ["ok"] * 20
    assert client.most == 3 and link.up


async def test_a_call_that_cannot_get_a_slot_in_time_is_an_outage_until_the_next_probe() -> None:
    client = SlowClient()
    link = RedisLink(client, max_in_flight=1, queue_timeout=0.1)
    errors: list[str] = []
    link.on_error(lambda: errors.append("error"))
    stuck = asyncio.create_task(link.run(client.call, write=False))
    await asyncio.sleep(0.01)
    with pytest.raises(StoreUnavailable):
        await link.run(client.call, write=True)
    assert not link.up and errors == ["error"]
    client.release.set()
    assert await stuck == "ok"  # the call that had its slot finishes normally
