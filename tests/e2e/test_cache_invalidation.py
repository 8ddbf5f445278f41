"""Two instances with their own metadata caches: a change on one reaches the other through Redis."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.conftest import create_video, eventually, register
from tests.support.server import RunningServer, base_env, serving_pair


@pytest.fixture
def two_instances(database_url: str, redis_url: str) -> Iterator[tuple[RunningServer, RunningServer]]:
    env = base_env(database_url, redis_url, WORKERS="1", VIEW_FLUSH_INTERVAL_SECONDS="0.3")
    yield from serving_pair(env)


async def test_a_patch_on_one_instance_reaches_the_other(
    two_instances: tuple[RunningServer, RunningServer],
) -> None:
    first, second = two_instances
    async with httpx.AsyncClient(base_url=first.url) as a, httpx.AsyncClient(base_url=second.url) as b:
        owner = await register(a)
        video = await create_video(a, owner, title="before")
        url = f"/api/v1/videos/{video['id']}"
        assert (await b.get(url)).json()["title"] == "before"  # now cached on the second instance
        assert (await a.patch(url, json={"title": "after"}, headers=owner.auth)).status_code == 200
        started = time.monotonic()

        async def renamed() -> bool:
            return (await b.get(url)).json()["title"] == "after"

        assert await eventually(renamed, timeout=5, interval=0.005)
        print(f"PATCH reached the other instance after {1000 * (time.monotonic() - started):.1f} ms")


async def test_a_delete_on_one_instance_is_a_404_on_the_other(
    two_instances: tuple[RunningServer, RunningServer],
) -> None:
    first, second = two_instances
    async with httpx.AsyncClient(base_url=first.url) as a, httpx.AsyncClient(base_url=second.url) as b:
        owner = await register(a)
        video = await create_video(a, owner)
        url = f"/api/v1/videos/{video['id']}"
        assert (await b.get(url)).status_code == 200
        assert (await a.delete(url, headers=owner.auth)).status_code == 204
        assert (await b.get(url)).status_code == 404  # the tombstone in Redis answers even before the notice
        assert (await b.post(f"{url}/views")).status_code == 404


async def test_displayed_view_count_never_goes_backwards_across_flushes(
    two_instances: tuple[RunningServer, RunningServer],
) -> None:
    first, second = two_instances
    async with httpx.AsyncClient(base_url=first.url) as a, httpx.AsyncClient(base_url=second.url) as b:
        video = await create_video(a, await register(a))
        url = f"/api/v1/videos/{video['id']}"
        seen: list[int] = []
        deadline = time.monotonic() + 4
        sent = 0
        while time.monotonic() < deadline:  # views on one instance, reads on the other, flushes in between
            await asyncio.gather(*(a.post(f"{url}/views") for _ in range(5)))
            sent += 5
            seen.append((await b.get(url)).json()["view_count"])
        assert seen == sorted(seen)
        assert seen[-1] == sent


async def test_an_anonymous_first_page_on_the_other_instance_never_lags_a_change(
    two_instances: tuple[RunningServer, RunningServer],
) -> None:
    """The other instance caches the page; each change on the first shows there on the very next
    read (the lists mark is read with the page's counts), not only once the notice arrives."""
    first, second = two_instances
    async with httpx.AsyncClient(base_url=first.url) as a, httpx.AsyncClient(base_url=second.url) as b:
        owner = await register(a, is_adult=True)
        old = await create_video(a, owner, title="old")
        page = f"/api/v1/videos?user_id={owner.id}&limit=5"

        async def titles() -> list[str]:
            response = await b.get(page)
            assert response.status_code == 200
            return [video["title"] for video in response.json()["items"]]

        assert await titles() == await titles() == ["old"]  # read, then from the cache
        new = await create_video(a, owner, title="new")
        assert await titles() == ["new", "old"]
        renamed = await a.patch(f"/api/v1/videos/{new['id']}", json={"title": "renamed"}, headers=owner.auth)
        assert renamed.status_code == 200
        assert await titles() == ["renamed", "old"]
        assert (await a.delete(f"/api/v1/videos/{old['id']}", headers=owner.auth)).status_code == 204
        assert await titles() == ["renamed"]
        adult = await a.patch(
            f"/api/v1/videos/{new['id']}", json={"is_adult_content": True}, headers=owner.auth
        )
        assert adult.status_code == 200
        assert await titles() == []  # adult content: hidden from anonymous callers
