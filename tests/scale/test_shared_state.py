"""Any instance gives the same answers: tokens, revocations and engagement are shared, not per instance."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest

from tests.e2e.conftest import create_video, eventually, register
from tests.scale.conftest import report
from tests.support.accounts import post_registration
from tests.support.fleet import Fleet
from tests.support.services import db_value

pytestmark = pytest.mark.scale


async def test_a_token_issued_by_one_instance_works_on_the_others_until_logout(fleet: Fleet) -> None:
    async with fleet.client() as client:
        account, registered = await post_registration(client, headers=fleet.pin(0), prefix="ada")
        name = account["username"]
        assert registered.status_code == 201, registered.text
        assert fleet.served_by(registered) == 0
        auth = {"Authorization": f"Bearer {registered.json()['token']}"}
        for index in (1, 2):
            profile = await client.get("/api/v1/auth/profile", headers={**auth, **fleet.pin(index)})
            assert profile.status_code == 200, profile.text
            assert fleet.served_by(profile) == index
            assert profile.json()["user"]["username"] == name

        login = await client.post(
            "/api/v1/auth/login",
            json={"email": f"{name}@example.com", "password": "password123"},
            headers=fleet.pin(2),
        )
        assert login.status_code == 200
        second = {"Authorization": f"Bearer {login.json()['token']}"}

        logout = await client.post("/api/v1/auth/logout", headers={**auth, **fleet.pin(1)})
        assert logout.status_code == 204
        for index in (0, 1, 2):  # revoked on every instance at once, not after a cache expires
            refused = await client.get("/api/v1/auth/profile", headers={**auth, **fleet.pin(index)})
            assert refused.status_code == 401, (index, refused.text)
            # the other token of the same user is not affected
            assert (
                await client.get("/api/v1/auth/profile", headers={**second, **fleet.pin(index)})
            ).status_code == 200


async def test_writes_sent_to_different_instances_add_up_exactly(fleet: Fleet, database_url: str) -> None:
    async with fleet.client(connections=30) as client:
        owner = await register(client)
        video = await create_video(client, owner)
        vid = video["id"]
        fans = await asyncio.gather(*(register(client) for _ in range(24)))
        served: Counter[int | None] = Counter()

        # likes: every fan once, concurrently, nginx spreading them; then a third of them twice more
        likes = await asyncio.gather(
            *(
                client.put(f"/api/v1/videos/{vid}/like", headers=fan.auth)
                for fan in [*fans, *fans[:8], *fans[:8]]
            )
        )
        assert {r.status_code for r in likes} == {200}
        served.update(fleet.served_by(r) for r in likes)
        # unlike on a given instance what was liked through another
        for i, fan in enumerate(fans[:6]):
            unliked = await client.delete(
                f"/api/v1/videos/{vid}/like", headers={**fan.auth, **fleet.pin(i % 3)}
            )
            assert unliked.status_code == 200 and unliked.json()["liked"] is False

        views = await asyncio.gather(*(client.post(f"/api/v1/videos/{vid}/views") for _ in range(150)))
        assert {r.status_code for r in views} == {202}
        served.update(fleet.served_by(r) for r in views)

        comments = await asyncio.gather(
            *(
                client.post(f"/api/v1/videos/{vid}/comments", json={"body": f"c{i}"}, headers=fan.auth)
                for i, fan in enumerate(fans[:12])
            )
        )
        assert {r.status_code for r in comments} == {201}
        served.update(fleet.served_by(r) for r in comments)

        # presence: nine viewers, each heartbeating through every instance, count once each
        beats = await asyncio.gather(
            *(
                client.post(
                    f"/api/v1/videos/{vid}/presence",
                    json={"viewer_id": f"scale-viewer-{v}"},
                    headers=fleet.pin(i),
                )
                for v in range(9)
                for i in range(3)
            )
        )
        assert {r.status_code for r in beats} == {200}
        left = await client.request(
            "DELETE",
            f"/api/v1/videos/{vid}/presence",
            json={"viewer_id": "scale-viewer-0"},
            headers=fleet.pin(2),  # leaves through an instance other than one it arrived on
        )
        assert left.json()["live_viewers"] == 8

        assert set(served) == {0, 1, 2}, served  # nginx did spread the writes over every instance
        expected = {"like_count": 18, "comment_count": 12, "live_viewers": 8, "view_count": 150}
        for index in (0, 1, 2):  # every instance gives the same, exact answer
            detail = (await client.get(f"/api/v1/videos/{vid}", headers=fleet.pin(index))).json()
            assert {name: detail[name] for name in expected} == expected, index

        # and PostgreSQL agrees once the views are flushed (one flusher at a time across instances)
        started = time.monotonic()

        async def flushed() -> bool:
            return await db_value(database_url, "SELECT view_count FROM videos WHERE id = $1", vid) == 150

        assert await eventually(flushed, timeout=15)
        report(
            f"all 150 views in PostgreSQL {time.monotonic() - started:.2f} s after the detail checks (flush every 0.5 s)"
        )
        assert await db_value(database_url, "SELECT count(*) FROM likes WHERE video_id = $1", vid) == 18
        assert await db_value(database_url, "SELECT count(*) FROM comments WHERE video_id = $1", vid) == 12
        report(f"requests of the exactness test served per instance: {dict(sorted(served.items()))}")
