"""The video list: keyset walks under every sort, filters, the literal search and signed cursors."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Account, assert_envelope, create_video, eventually, register, unique

SORTS = ["-created_at", "created_at", "-view_count", "view_count", "title"]


async def walk(
    client: httpx.AsyncClient, params: dict[str, Any], limit: int, between_pages: Any = None
) -> list[dict]:
    items, cursor, pages = [], None, 0
    while True:
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        response = await client.get("/api/v1/videos", params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["items"]) <= limit
        items += body["items"]
        cursor = body["next_cursor"]
        pages += 1
        if between_pages is not None:
            await between_pages(pages)
        if cursor is None:
            return items
        assert pages < 100


def expected_order(videos: list[dict], sort: str) -> list[int]:
    field = sort.lstrip("-")

    def key(video: dict) -> tuple:
        value = video[field]
        return (value.encode() if field == "title" else value, video["id"])  # title: binary order, then id

    return [v["id"] for v in sorted(videos, key=key, reverse=sort.startswith("-"))]


@pytest.fixture(scope="module")
async def catalogue(server: Any) -> tuple[Account, list[dict]]:
    """One owner's 23 videos with distinct titles (mixed case, non-ASCII) and view counts."""
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        owner = await register(client)
        titles = [
            "banana",
            "Banana",
            "apple",
            "Zebra",
            "ärger",
            "_under",
            "100% real",
            "éclair",
            "Apple",
            "zz",
        ]
        titles += [f"title {i:02d}" for i in range(13)]
        videos = []
        for i, title in enumerate(titles):
            videos.append(await create_video(client, owner, title=title, is_live=(i % 3 == 0)))
        for i, video in enumerate(videos):  # distinct view counts, some equal (ties broken by id)
            for _ in range(i % 5):
                assert (await client.post(f"/api/v1/videos/{video['id']}/views")).status_code == 202

        async def flushed() -> list[dict]:
            listing = await client.get("/api/v1/videos", params={"user_id": owner.id, "limit": 100})
            return listing.json()["items"]

        async def all_flushed() -> bool:
            items = await flushed()
            return sum(v["view_count"] for v in items) == sum(i % 5 for i in range(len(videos)))

        assert await eventually(all_flushed)
        return owner, await flushed()


@pytest.mark.parametrize("sort", SORTS)
async def test_walk_visits_every_video_once_in_order(
    client: httpx.AsyncClient, catalogue: tuple[Account, list[dict]], sort: str
) -> None:
    owner, videos = catalogue
    if "view_count" in sort:  # the list sorts by durable counts: wait until every view is flushed

        async def durable() -> bool:
            items = await walk(client, {"user_id": owner.id, "sort": sort}, 100)
            return [v["view_count"] for v in items] == sorted(
                [v["view_count"] for v in items], reverse=sort.startswith("-")
            )

        assert await eventually(durable)
    items = await walk(client, {"user_id": owner.id, "sort": sort}, 4)
    ids = [v["id"] for v in items]
    assert len(ids) == len(set(ids)) == len(videos)
    assert ids == expected_order(items, sort)


async def test_default_sort_is_newest_first_and_limit_defaults_to_20(
    client: httpx.AsyncClient, catalogue: tuple[Account, list[dict]]
) -> None:
    owner, videos = catalogue
    body = (await client.get("/api/v1/videos", params={"user_id": owner.id})).json()
    assert len(body["items"]) == 20 and body["next_cursor"]
    assert [v["id"] for v in body["items"]] == sorted((v["id"] for v in videos), reverse=True)[:20]


async def test_walk_is_stable_while_videos_are_added(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    originals = [await create_video(client, owner) for _ in range(9)]

    async def add_more(page: int) -> None:
        await create_video(client, owner)

    for sort in ("-created_at", "created_at"):
        items = await walk(client, {"user_id": owner.id, "sort": sort}, 3, between_pages=add_more)
        ids = [v["id"] for v in items]
        assert len(ids) == len(set(ids))  # nothing repeated
        assert {v["id"] for v in originals} <= set(ids)  # nothing that was there is skipped


async def test_limit_may_change_between_pages(
    client: httpx.AsyncClient, catalogue: tuple[Account, list[dict]]
) -> None:
    owner, videos = catalogue
    first = (await client.get("/api/v1/videos", params={"user_id": owner.id, "limit": 5})).json()
    second = (
        await client.get(
            "/api/v1/videos", params={"user_id": owner.id, "limit": 50, "cursor": first["next_cursor"]}
        )
    ).json()
    ids = [v["id"] for v in first["items"] + second["items"]]
    assert len(ids) == len(set(ids)) == len(videos) and second["next_cursor"] is None


async def test_cursor_is_bound_to_sort_and_filters_and_signed(
    client: httpx.AsyncClient, catalogue: tuple[Account, list[dict]]
) -> None:
    owner, _ = catalogue
    cursor = (await client.get("/api/v1/videos", params={"user_id": owner.id, "limit": 2})).json()[
        "next_cursor"
    ]
    for params in [
        {"user_id": owner.id, "sort": "title", "cursor": cursor},
        {"user_id": owner.id, "is_live": "true", "cursor": cursor},
        {"user_id": owner.id, "q": "a", "cursor": cursor},
        {"cursor": cursor},
        {"user_id": owner.id, "cursor": cursor[:-2] + ("A" if cursor[-2] != "A" else "B") + cursor[-1]},
        {"user_id": owner.id, "cursor": "garbage"},
        {"user_id": owner.id, "cursor": "eyJwIjpbMSwyXX0"},
    ]:
        body = assert_envelope(await client.get("/api/v1/videos", params=params), 400, "bad_request")
        assert body["details"][0]["field"] == "cursor"


async def test_bad_query_parameters_are_400_naming_the_parameter(client: httpx.AsyncClient) -> None:
    for params, field in [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"sort": "likes"}, "sort"),
        ({"user_id": -3}, "user_id"),
        ({"user_id": "x"}, "user_id"),
        ({"is_live": "maybe"}, "is_live"),
        ({"q": "x" * 201}, "q"),
    ]:
        body = assert_envelope(await client.get("/api/v1/videos", params=params), 400, "bad_request")
        assert [d["field"] for d in body["details"]] == [field], params


async def test_search_is_a_case_insensitive_literal_substring(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    tag = unique("t")
    titles = [f"{tag} 50% OFF", f"{tag} 50 percent", f"{tag} a_b", f"{tag} axb", f"{tag} Ünïcode Mix"]
    ids = {title: (await create_video(client, owner, title=title))["id"] for title in titles}

    async def search(q: str) -> set[int]:
        items = await walk(client, {"user_id": owner.id, "q": q}, 10)
        return {v["id"] for v in items}

    assert await search("50%") == {ids[f"{tag} 50% OFF"]}
    assert await search("%") == {ids[f"{tag} 50% OFF"]}
    assert await search("_") == {ids[f"{tag} a_b"]}
    assert await search("off") == {ids[f"{tag} 50% OFF"]}
    assert await search(tag.upper()) == set(ids.values())
    assert await search("ÜNÏ") == {ids[f"{tag} Ünïcode Mix"]}


async def test_filters_by_owner_and_live(
    client: httpx.AsyncClient, catalogue: tuple[Account, list[dict]]
) -> None:
    owner, videos = catalogue
    live = await walk(client, {"user_id": owner.id, "is_live": "true"}, 50)
    assert {v["id"] for v in live} == {v["id"] for v in videos if v["is_live"]}
    not_live = await walk(client, {"user_id": owner.id, "is_live": "false"}, 50)
    assert {v["id"] for v in not_live} == {v["id"] for v in videos if not v["is_live"]}
    assert all(v["user_id"] == owner.id for v in live + not_live)


async def test_optional_auth_routes_refuse_a_bad_token(client: httpx.AsyncClient) -> None:
    for path in (
        "/api/v1/videos",
        "/api/v1/videos/1",
        "/api/v1/videos/1/engagement",
        "/api/v1/videos/1/comments",
    ):
        response = await client.get(path, headers={"Authorization": "Bearer not.a.token"})
        assert_envelope(response, 401, "unauthorized")


async def test_list_pages_concurrently_agree(
    client: httpx.AsyncClient, catalogue: tuple[Account, list[dict]]
) -> None:
    owner, _ = catalogue
    responses = await asyncio.gather(
        *(client.get("/api/v1/videos", params={"user_id": owner.id, "sort": "title"}) for _ in range(10))
    )
    assert len({tuple(v["id"] for v in r.json()["items"]) for r in responses}) == 1
