"""Live updates cross instances: a write on one instance reaches a WebSocket held by another,
through nginx, by way of Redis pub/sub."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from tests.e2e.conftest import create_video, register, unique
from tests.scale.conftest import report
from tests.support.fleet import Fleet
from tests.support.live import LiveClient

pytestmark = pytest.mark.scale


async def test_a_like_on_one_instance_reaches_a_socket_on_another_through_nginx(fleet: Fleet) -> None:
    async with fleet.client() as client:
        owner, fan = await register(client), await register(client)
        video = await create_video(client, owner)
        live = await LiveClient.open(
            fleet.url, video["id"], headers=fleet.pin(1), viewer_id=unique("viewer-")
        )
        async with live:
            handshake = live.connection.response
            assert handshake is not None
            upstream = httpx.Response(101, headers=dict(handshake.headers))
            assert fleet.served_by(upstream) == 1
            await live.until(lambda m: m["live_viewers"] == 1)
            await asyncio.sleep(0.5)  # a quiet moment: the delay measured is not the coalescing one

            started = time.monotonic()
            liked = await client.put(
                f"/api/v1/videos/{video['id']}/like", headers={**fan.auth, **fleet.pin(0)}
            )
            assert liked.status_code == 200 and fleet.served_by(liked) == 0
            await live.until(lambda m: m["like_count"] == 1)  # waits up to 5 s
            delay_ms = (time.monotonic() - started) * 1000

            viewed = await client.post(f"/api/v1/videos/{video['id']}/views", headers=fleet.pin(2))
            assert viewed.status_code == 202 and fleet.served_by(viewed) == 2
            await live.until(lambda m: m["view_count"] == 1)

            # the socket's viewer is in the shared presence set: every instance counts it
            for index in range(3):
                engagement = await client.get(
                    f"/api/v1/videos/{video['id']}/engagement", headers=fleet.pin(index)
                )
                assert engagement.json()["live_viewers"] == 1
    report(
        f"like on instance 0 -> WebSocket on instance 1 via nginx: {delay_ms:.1f} ms (PUT sent to message read)"
    )
