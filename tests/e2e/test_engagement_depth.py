"""API v1.1 engagement depth over HTTP: the caller's `viewer` state, counted views, batch reads,
trending, and comment threads with moderation; counts exact under concurrency.

A server of this module's own (2 workers): the view window on (1800 s), trending refreshed every
second, and a Redis database of its own, so that a test may drop its keys like a Redis loss."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis

from tests.conftest import RUN_ID
from tests.e2e.conftest import Account, assert_envelope, create_video, eventually, make_adult_mode, register
from tests.support import services
from tests.support.metrics import scrape
from tests.support.server import RunningServer, base_env, embedded_env, migrate, serving

API = "/api/v1"


@pytest.fixture(scope="module")
def depth_redis_url() -> Iterator[str]:
    yield from services.redis_database(f"{RUN_ID}:depth")


@pytest.fixture(scope="module")
def depth_server(database_url: str, depth_redis_url: str) -> Iterator[RunningServer]:
    env = base_env(
        database_url, depth_redis_url, WORKERS="2", VIEW_WINDOW_SECONDS="1800", TRENDING_REFRESH_SECONDS="1"
    )
    migrate(env)
    yield from serving(env)


@pytest.fixture
async def http(depth_server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=depth_server.url, timeout=30.0, limits=httpx.Limits(max_connections=40)
    ) as client:
        yield client


async def _forget_everything_in_redis(url: str) -> None:
    """Redis loses everything HALO keeps there."""
    redis = Redis.from_url(url)
    try:
        keys = [key async for key in redis.scan_iter(match="halo:*", count=1000)]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()


def _field(response: httpx.Response, status: int, code: str) -> str:
    body = assert_envelope(response, status, code)
    fields = {detail["field"] for detail in body["details"]}
    assert len(fields) == 1, body
    return fields.pop()


# --- viewer -----------------------------------------------------------------------


async def test_viewer_is_null_when_anonymous_and_the_callers_like_when_authenticated(
    http: httpx.AsyncClient,
) -> None:
    owner, fan = await register(http), await register(http)
    created = await create_video(http, owner, comments_policy="open")
    assert created["viewer"] == {"liked": False} and created["comments_policy"] == "open"
    vid = created["id"]
    patched = await http.patch(f"{API}/videos/{vid}", json={"title": "renamed"}, headers=owner.auth)
    assert patched.json()["viewer"] == {"liked": False}
    assert (await http.get(f"{API}/videos/{vid}")).json()["viewer"] is None
    listed = (await http.get(f"{API}/videos", params={"user_id": owner.id})).json()["items"]
    assert [item["viewer"] for item in listed] == [None]

    assert (await http.put(f"{API}/videos/{vid}/like", headers=fan.auth)).status_code == 200
    # right after the like, on both workers (several reads), and only for the one who liked
    for _ in range(6):
        assert (await http.get(f"{API}/videos/{vid}", headers=fan.auth)).json()["viewer"] == {"liked": True}
        assert (await http.get(f"{API}/videos/{vid}", headers=owner.auth)).json()["viewer"] == {
            "liked": False
        }
    page = (await http.get(f"{API}/videos", params={"user_id": owner.id}, headers=fan.auth)).json()
    assert page["items"][0]["viewer"] == {"liked": True}
    batch = (await http.get(f"{API}/videos", params={"ids": str(vid)}, headers=fan.auth)).json()
    assert batch["items"][0]["viewer"] == {"liked": True}

    assert (await http.delete(f"{API}/videos/{vid}/like", headers=fan.auth)).status_code == 200
    for _ in range(6):
        assert (await http.get(f"{API}/videos/{vid}", headers=fan.auth)).json()["viewer"] == {"liked": False}


async def test_each_of_many_concurrent_likers_sees_its_own_like(http: httpx.AsyncClient) -> None:
    owner = await register(http)
    likers = await asyncio.gather(*(register(http) for _ in range(8)))
    videos = [await create_video(http, owner) for _ in range(3)]
    liked_ids = {videos[0]["id"], videos[2]["id"]}
    await asyncio.gather(
        *(http.put(f"{API}/videos/{vid}/like", headers=fan.auth) for fan in likers for vid in liked_ids)
    )
    pages = await asyncio.gather(
        *(http.get(f"{API}/videos", params={"user_id": owner.id}, headers=fan.auth) for fan in likers)
    )
    for page in pages:
        states = {item["id"]: item["viewer"]["liked"] for item in page.json()["items"]}
        assert states == {video["id"]: video["id"] in liked_ids for video in videos}


async def test_racing_likes_and_unlikes_of_one_user_end_as_postgresql_says(
    http: httpx.AsyncClient, database_url: str, depth_redis_url: str
) -> None:
    """Likes and unlikes of one user sent at once to both workers: whatever order they commit in,
    every read afterwards says what the likes table says, also once Redis has lost its copy."""
    owner, fan = await register(http), await register(http)
    vid = (await create_video(http, owner))["id"]

    async def truth() -> bool:
        connection = await asyncpg.connect(database_url)
        try:
            found = await connection.fetchval(
                "SELECT count(*) FROM likes WHERE video_id = $1 AND user_id = $2", vid, fan.id
            )
        finally:
            await connection.close()
        return bool(found)

    async def reads_agree(expected: bool) -> None:
        for _ in range(6):  # both workers
            detail = await http.get(f"{API}/videos/{vid}", headers=fan.auth)
            assert detail.json()["viewer"] == {"liked": expected}
            page = await http.get(f"{API}/videos", params={"ids": str(vid)}, headers=fan.auth)
            assert page.json()["items"][0]["viewer"] == {"liked": expected}

    for _ in range(3):
        await http.get(f"{API}/videos/{vid}", headers=fan.auth)  # its state cached before the race
        answers = await asyncio.gather(
            *(
                http.request("PUT" if n % 2 else "DELETE", f"{API}/videos/{vid}/like", headers=fan.auth)
                for n in range(12)
            )
        )
        assert {answer.status_code for answer in answers} == {200}
        await reads_agree(await truth())

    await _forget_everything_in_redis(depth_redis_url)
    await reads_agree(await truth())


# --- counted views ------------------------------------------------------------------


async def test_concurrent_first_views_from_one_viewer_count_once(http: httpx.AsyncClient) -> None:
    vid = (await create_video(http, await register(http)))["id"]
    url = f"{API}/videos/{vid}/views"
    responses = await asyncio.gather(
        *(http.post(url, json={"viewer_id": "viewer-one-01"}) for _ in range(30))
    )
    assert {r.status_code for r in responses} == {202}
    assert sum(r.json()["counted"] for r in responses) == 1
    assert all(r.json()["view_count"] == 1 for r in responses if not r.json()["counted"])
    others = await asyncio.gather(*(http.post(url, json={"viewer_id": f"viewer-{n:04d}"}) for n in range(10)))
    assert all(r.json()["counted"] for r in others)
    assert (await http.get(f"{API}/videos/{vid}")).json()["view_count"] == 11


async def test_the_viewer_is_the_user_then_the_viewer_id_then_the_client_ip(http: httpx.AsyncClient) -> None:
    owner, fan = await register(http), await register(http)
    vid = (await create_video(http, owner))["id"]
    url = f"{API}/videos/{vid}/views"
    assert (await http.post(url, headers=fan.auth)).json()["counted"] is True
    # authenticated: viewer_id is ignored, whatever its form
    for body in ({"viewer_id": "another-viewer"}, {"viewer_id": "!"}, {"viewer_id": 7}):
        again = await http.post(url, json=body, headers=fan.auth)
        assert again.status_code == 202 and again.json()["counted"] is False
    assert (await http.post(url, headers=owner.auth)).json()["counted"] is True
    # anonymous without a viewer_id: the client IP
    assert (await http.post(url)).json()["counted"] is True
    repeat = await http.post(url)
    assert repeat.json() == {"video_id": vid, "view_count": 3, "counted": False}
    # anonymous with a malformed viewer_id: 422 naming it
    for bad in ("short", "x" * 65, "not ok!", 12345678):
        assert _field(await http.post(url, json={"viewer_id": bad}), 422, "validation_failed") == "viewer_id"
    assert _field(await http.post(url, json={"viewer": "abcdefgh"}), 422, "validation_failed") == "viewer"


# --- batch reads ---------------------------------------------------------------------


async def test_batch_read_keeps_the_order_and_leaves_out_missing_and_hidden(http: httpx.AsyncClient) -> None:
    owner, adult = await register(http), await register(http, is_adult=True)
    other_adult = await register(http, is_adult=True)
    a, b, c = [(await create_video(http, owner))["id"] for _ in range(3)]
    hidden = (await create_video(http, adult, is_adult_content=True))["id"]
    deleted = (await create_video(http, owner))["id"]
    assert (await http.delete(f"{API}/videos/{deleted}", headers=owner.auth)).status_code == 204
    ids = f"{c},{hidden},{a},{deleted},999999999999,{b}"

    async def batch(headers: dict[str, str]) -> list[int]:
        page = (await http.get(f"{API}/videos", params={"ids": ids}, headers=headers)).json()
        assert page["next_cursor"] is None
        return [item["id"] for item in page["items"]]

    assert await batch({}) == [c, a, b]
    assert await batch(other_adult.auth) == [c, a, b]  # adult, but not in adult mode
    assert await batch(adult.auth) == [c, hidden, a, b]  # the owner
    await make_adult_mode(http, other_adult)
    assert await batch(other_adult.auth) == [c, hidden, a, b]


@pytest.mark.parametrize(
    "params",
    [
        {"ids": ""},
        {"ids": "1,,2"},
        {"ids": "1,a"},
        {"ids": "0"},
        {"ids": "-3"},
        {"ids": " 1"},
        {"ids": "1,2,1"},
        {"ids": "9223372036854775808"},
        {"ids": ",".join(str(n) for n in range(1, 102))},
        {"ids": "1", "sort": "title"},
        {"ids": "1", "sort": "-created_at"},
        {"ids": "1", "cursor": "abc"},
        {"ids": "1", "q": "x"},
        {"ids": "1", "user_id": "1"},
        {"ids": "1", "is_live": "true"},
    ],
)
async def test_a_bad_or_combined_ids_list_is_a_400_on_ids(
    http: httpx.AsyncClient, params: dict[str, str]
) -> None:
    assert _field(await http.get(f"{API}/videos", params=params), 400, "bad_request") == "ids"


async def test_a_batch_of_a_hundred_ids_is_fine(http: httpx.AsyncClient) -> None:
    vid = (await create_video(http, await register(http)))["id"]
    ids = ",".join(str(n) for n in [vid, *range(10**15, 10**15 + 99)])
    assert [
        item["id"] for item in (await http.get(f"{API}/videos", params={"ids": ids})).json()["items"]
    ] == [vid]


# --- trending ----------------------------------------------------------------------------


async def _view(http: httpx.AsyncClient, vid: int, viewers: int, tag: str) -> None:
    responses = await asyncio.gather(
        *(
            http.post(f"{API}/videos/{vid}/views", json={"viewer_id": f"{tag}-{n:05d}"})
            for n in range(viewers)
        )
    )
    assert all(r.json()["counted"] for r in responses)


async def _walk(
    http: httpx.AsyncClient, params: dict[str, Any], first: dict[str, Any] | None = None
) -> list[int]:
    page = first or (await http.get(f"{API}/videos", params=params)).json()
    seen = [item["id"] for item in page["items"]]
    while page["next_cursor"]:
        response = await http.get(f"{API}/videos", params={**params, "cursor": page["next_cursor"]})
        assert response.status_code == 200, response.text
        page = response.json()
        seen += [item["id"] for item in page["items"]]
    return seen


async def test_trending_orders_by_counted_views_then_higher_id(http: httpx.AsyncClient) -> None:
    owner = await register(http)
    v = [(await create_video(http, owner))["id"] for _ in range(6)]
    await _view(http, v[1], 5, "t1")
    await _view(http, v[3], 2, "t3")
    await _view(http, v[4], 2, "t4")
    await _view(http, v[0], 1, "t0")
    params = {"sort": "-trending", "user_id": owner.id, "limit": 2}
    expected = [v[1], v[4], v[3], v[0], v[5], v[2]]

    async def ranked() -> bool:
        return await _walk(http, params) == expected

    assert await eventually(ranked, timeout=15)


async def test_a_trending_walk_stays_on_its_ranking_while_a_newer_one_replaces_it(
    http: httpx.AsyncClient,
) -> None:
    owner = await register(http)
    v = [(await create_video(http, owner))["id"] for _ in range(5)]
    await _view(http, v[0], 3, "w0")
    params = {"sort": "-trending", "user_id": owner.id, "limit": 2}

    async def ranked() -> bool:
        return (await _walk(http, params))[:1] == [v[0]]

    assert await eventually(ranked, timeout=15)
    first = (await http.get(f"{API}/videos", params=params)).json()
    await _view(http, v[4], 10, "w4")  # v[4] jumps to the top of the next ranking
    await asyncio.sleep(2.5)  # newer rankings replace the walk's
    walk = await _walk(http, params, first)
    assert sorted(walk) == sorted(v) and len(walk) == len(set(walk))
    assert walk == [v[0], v[4], v[3], v[2], v[1]]  # the order of the walk's own ranking
    fresh = await _walk(http, params)
    assert fresh[0] == v[4]


async def test_a_tampered_trending_cursor_is_a_400(http: httpx.AsyncClient) -> None:
    owner = await register(http)
    for _ in range(3):
        await create_video(http, owner)
    params = {"sort": "-trending", "user_id": owner.id, "limit": 1}
    cursor = (await http.get(f"{API}/videos", params=params)).json()["next_cursor"]
    assert cursor
    tampered = cursor[:-2] + ("AA" if cursor[-2:] != "AA" else "BB")
    assert (
        _field(await http.get(f"{API}/videos", params={**params, "cursor": tampered}), 400, "bad_request")
        == "cursor"
    )
    other = {**params, "sort": "-created_at"}
    assert (
        _field(await http.get(f"{API}/videos", params={**other, "cursor": cursor}), 400, "bad_request")
        == "cursor"
    )


# --- comments ------------------------------------------------------------------------------


async def _comment(
    http: httpx.AsyncClient, vid: int, who: Account, body: str, **extra: Any
) -> httpx.Response:
    return await http.post(f"{API}/videos/{vid}/comments", json={"body": body, **extra}, headers=who.auth)


async def _comment_count(http: httpx.AsyncClient, vid: int) -> int:
    return int((await http.get(f"{API}/videos/{vid}")).json()["comment_count"])


async def test_replies_are_one_level_deep_and_listed_oldest_first(http: httpx.AsyncClient) -> None:
    owner, fan = await register(http), await register(http)
    vid = (await create_video(http, owner))["id"]
    other = (await create_video(http, owner))["id"]
    top = (await _comment(http, vid, fan, "top")).json()
    assert top["parent_id"] is None and top["status"] == "published" and top["reply_count"] == 0
    assert top["edited_at"] is None
    replies = [(await _comment(http, vid, owner, f"reply {n}", parent_id=top["id"])).json() for n in range(5)]
    assert all(reply["parent_id"] == top["id"] for reply in replies)
    listed = (await http.get(f"{API}/videos/{vid}/comments")).json()["items"]
    assert [c["id"] for c in listed] == [top["id"]] and listed[0]["reply_count"] == 5
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await http.get(f"{API}/comments/{top['id']}/replies", params=params)).json()
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [r["id"] for r in replies]
    assert await _comment_count(http, vid) == 6
    for parent in (replies[0]["id"], 10**15):
        assert (
            _field(await _comment(http, vid, fan, "deep", parent_id=parent), 422, "validation_failed")
            == "parent_id"
        )
    assert _field(
        await _comment(http, other, fan, "elsewhere", parent_id=top["id"]), 422, "validation_failed"
    ) == ("parent_id")
    assert (await http.get(f"{API}/comments/{10**15}/replies")).status_code == 404


async def test_only_the_author_edits_and_the_author_or_owner_deletes(http: httpx.AsyncClient) -> None:
    owner, fan, stranger = await register(http), await register(http), await register(http)
    vid = (await create_video(http, owner))["id"]
    comment = (await _comment(http, vid, fan, "first")).json()
    edited = await http.patch(f"{API}/comments/{comment['id']}", json={"body": "second"}, headers=fan.auth)
    assert edited.status_code == 200
    assert edited.json()["body"] == "second" and edited.json()["edited_at"] is not None
    for who in (owner, stranger):
        assert_envelope(
            await http.patch(f"{API}/comments/{comment['id']}", json={"body": "x"}, headers=who.auth),
            403,
            "forbidden",
        )
    assert_envelope(
        await http.patch(f"{API}/comments/{comment['id']}", json={"body": "x"}), 401, "unauthorized"
    )
    assert (
        _field(
            await http.patch(f"{API}/comments/{comment['id']}", json={"body": ""}, headers=fan.auth),
            422,
            "validation_failed",
        )
        == "body"
    )
    assert_envelope(
        await http.delete(f"{API}/comments/{comment['id']}", headers=stranger.auth), 403, "forbidden"
    )
    assert (await http.delete(f"{API}/comments/{comment['id']}", headers=owner.auth)).status_code == 204
    assert_envelope(
        await http.delete(f"{API}/comments/{comment['id']}", headers=owner.auth), 404, "not_found"
    )
    mine = (await _comment(http, vid, fan, "mine")).json()
    assert (await http.delete(f"{API}/comments/{mine['id']}", headers=fan.auth)).status_code == 204
    assert await _comment_count(http, vid) == 0


async def test_deleting_a_top_level_comment_takes_its_replies_and_their_count(
    http: httpx.AsyncClient,
) -> None:
    owner, fan = await register(http), await register(http)
    vid = (await create_video(http, owner))["id"]
    top = (await _comment(http, vid, fan, "top")).json()
    keep = (await _comment(http, vid, fan, "keep")).json()
    replies = await asyncio.gather(
        *(_comment(http, vid, owner, f"r{n}", parent_id=top["id"]) for n in range(6))
    )
    assert {r.status_code for r in replies} == {201}
    assert await _comment_count(http, vid) == 8
    assert (await http.delete(f"{API}/comments/{top['id']}", headers=fan.auth)).status_code == 204
    assert await _comment_count(http, vid) == 1
    assert (await http.get(f"{API}/comments/{top['id']}/replies")).status_code == 404
    reply_id = replies[0].json()["id"]
    assert_envelope(
        await http.patch(f"{API}/comments/{reply_id}", json={"body": "x"}, headers=owner.auth),
        404,
        "not_found",
    )
    assert [c["id"] for c in (await http.get(f"{API}/videos/{vid}/comments")).json()["items"]] == [keep["id"]]


async def test_approval_policy_holds_comments_until_the_owner_approves(http: httpx.AsyncClient) -> None:
    owner, fan, stranger = await register(http), await register(http), await register(http)
    vid = (await create_video(http, owner, comments_policy="approval"))["id"]
    held = await _comment(http, vid, fan, "please")
    assert held.status_code == 201 and held.json()["status"] == "held"
    held_id = held.json()["id"]
    own = (await _comment(http, vid, owner, "mine")).json()
    assert own["status"] == "published"
    assert await _comment_count(http, vid) == 1
    assert [c["id"] for c in (await http.get(f"{API}/videos/{vid}/comments")).json()["items"]] == [own["id"]]
    queue = await http.get(f"{API}/videos/{vid}/comments", params={"status": "held"}, headers=owner.auth)
    assert [c["id"] for c in queue.json()["items"]] == [held_id]
    for who in ({}, fan.auth, stranger.auth):
        assert_envelope(
            await http.get(f"{API}/videos/{vid}/comments", params={"status": "held"}, headers=who),
            403,
            "forbidden",
        )
    # the author still sees it in PATCH; a held comment is no parent
    patched = await http.patch(f"{API}/comments/{held_id}", json={"body": "please!"}, headers=fan.auth)
    assert patched.status_code == 200 and patched.json()["status"] == "held"
    assert (
        _field(await _comment(http, vid, owner, "re", parent_id=held_id), 422, "validation_failed")
        == "parent_id"
    )
    assert (await http.get(f"{API}/comments/{held_id}/replies")).status_code == 404
    assert_envelope(await http.post(f"{API}/comments/{held_id}/approve", headers=fan.auth), 403, "forbidden")
    approvals = await asyncio.gather(
        *(http.post(f"{API}/comments/{held_id}/approve", headers=owner.auth) for _ in range(5))
    )
    assert {r.status_code for r in approvals} == {200}
    assert {r.json()["status"] for r in approvals} == {"published"}
    assert await _comment_count(http, vid) == 2


async def test_closed_policy_refuses_new_comments_even_the_owners(http: httpx.AsyncClient) -> None:
    owner, fan = await register(http), await register(http)
    vid = (await create_video(http, owner))["id"]
    existing = (await _comment(http, vid, fan, "before")).json()
    closed = await http.patch(f"{API}/videos/{vid}", json={"comments_policy": "closed"}, headers=owner.auth)
    assert closed.status_code == 200 and closed.json()["comments_policy"] == "closed"
    for who in (owner, fan):
        assert_envelope(await _comment(http, vid, who, "after"), 403, "forbidden")
    assert [c["id"] for c in (await http.get(f"{API}/videos/{vid}/comments")).json()["items"]] == [
        existing["id"]
    ]
    bad = await http.patch(f"{API}/videos/{vid}", json={"comments_policy": "sometimes"}, headers=owner.auth)
    assert _field(bad, 422, "validation_failed") == "comments_policy"
    assert (
        _field(
            await http.patch(f"{API}/videos/{vid}", json={"comments_policy": None}, headers=owner.auth),
            422,
            "validation_failed",
        )
        == "comments_policy"
    )


async def test_comment_count_is_exact_under_concurrency_and_after_a_redis_loss(
    http: httpx.AsyncClient, depth_redis_url: str
) -> None:
    owner = await register(http)
    fans = await asyncio.gather(*(register(http) for _ in range(5)))
    vid = (await create_video(http, owner))["id"]
    created = await asyncio.gather(*(_comment(http, vid, fan, f"c{n}") for fan in fans for n in range(6)))
    assert {r.status_code for r in created} == {201}
    assert await _comment_count(http, vid) == 30
    doomed = [r.json()["id"] for r in created[:10]]
    deletes = await asyncio.gather(
        *(http.delete(f"{API}/comments/{cid}", headers=owner.auth) for cid in doomed for _ in range(2))
    )
    assert sorted(r.status_code for r in deletes) == [204] * 10 + [404] * 10
    assert await _comment_count(http, vid) == 20
    await _forget_everything_in_redis(depth_redis_url)
    for _ in range(4):  # both workers, whose cached rows hold older counters
        assert await _comment_count(http, vid) == 20
    assert (await _comment(http, vid, fans[0], "after the loss")).status_code == 201
    assert await _comment_count(http, vid) == 21


# --- metrics ------------------------------------------------------------------------------------


async def test_held_comments_and_trending_refreshes_are_counted(
    http: httpx.AsyncClient, depth_server: RunningServer
) -> None:
    owner, fan = await register(http), await register(http)
    vid = (await create_video(http, owner, comments_policy="approval"))["id"]
    before = await asyncio.to_thread(scrape, depth_server.metrics_url)
    held = [(await _comment(http, vid, fan, f"wait {n}")).json()["id"] for n in range(3)]
    assert (await http.post(f"{API}/comments/{held[0]}/approve", headers=owner.auth)).status_code == 200

    async def counted() -> bool:
        now = await asyncio.to_thread(scrape, depth_server.metrics_url)
        moderated = {
            event: now.total("halo_comments_moderated_total", event=event)
            - before.total("halo_comments_moderated_total", event=event)
            for event in ("held", "approved")
        }
        return moderated == {"held": 3, "approved": 1}

    assert await eventually(counted, timeout=10)
    await asyncio.sleep(3)  # three refresh intervals: the two workers share one lease
    after = await asyncio.to_thread(scrape, depth_server.metrics_url)
    built = after.total("halo_trending_refreshes_total", outcome="built") - before.total(
        "halo_trending_refreshes_total", outcome="built"
    )
    skipped = after.total("halo_trending_refreshes_total", outcome="skipped") - before.total(
        "halo_trending_refreshes_total", outcome="skipped"
    )
    assert 1 <= built <= 5 and skipped >= 1
    assert (after.value("halo_trending_last_built_timestamp_seconds") or 0) > 0


# --- the embedded default (SQLite and the in-process store) ------------------------------------


async def test_the_embedded_default_has_the_whole_of_v1_1(tmp_path: Path) -> None:
    env = embedded_env(TRENDING_REFRESH_SECONDS="1")
    migrate(env, cwd=tmp_path)
    server = RunningServer(env, cwd=tmp_path).start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            owner, fan = await register(client), await register(client)
            v = [(await create_video(client, owner, comments_policy="approval"))["id"] for _ in range(3)]
            await client.put(f"{API}/videos/{v[1]}/like", headers=fan.auth)
            batch = (
                await client.get(f"{API}/videos", params={"ids": f"{v[2]},{v[1]}"}, headers=fan.auth)
            ).json()
            assert [(item["id"], item["viewer"]) for item in batch["items"]] == [
                (v[2], {"liked": False}),
                (v[1], {"liked": True}),
            ]
            views = await asyncio.gather(
                *(
                    client.post(f"{API}/videos/{v[0]}/views", json={"viewer_id": "embedded-01"})
                    for _ in range(10)
                )
            )
            assert sum(r.json()["counted"] for r in views) == 1
            await _view(client, v[2], 2, "emb")

            async def ranked() -> bool:
                return await _walk(client, {"sort": "-trending", "user_id": owner.id, "limit": 1}) == [
                    v[2],
                    v[0],
                    v[1],
                ]

            assert await eventually(ranked, timeout=15)
            held = (await _comment(client, v[0], fan, "held")).json()
            assert held["status"] == "held" and await _comment_count(client, v[0]) == 0
            assert (
                await client.post(f"{API}/comments/{held['id']}/approve", headers=owner.auth)
            ).status_code == 200
            reply = await _comment(client, v[0], owner, "thanks", parent_id=held["id"])
            assert reply.status_code == 201 and await _comment_count(client, v[0]) == 2
            assert (
                await client.delete(f"{API}/comments/{held['id']}", headers=owner.auth)
            ).status_code == 204
            assert await _comment_count(client, v[0]) == 0
    finally:
        assert server.terminate() == 0


async def test_replies_carry_an_etag_and_a_next_link(http: httpx.AsyncClient) -> None:
    owner = await register(http)
    vid = (await create_video(http, owner))["id"]
    top = (await _comment(http, vid, owner, "top")).json()
    for n in range(3):
        await _comment(http, vid, owner, f"r{n}", parent_id=top["id"])
    url = f"{API}/comments/{top['id']}/replies"
    first = await http.get(url, params={"limit": 2})
    assert first.status_code == 200 and first.headers["etag"]
    assert 'rel="next"' in first.headers["link"]
    again = await http.get(url, params={"limit": 2}, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    await _comment(http, vid, owner, "r3", parent_id=top["id"])
    edited = (
        await http.get(url, params={"limit": 2}, headers={"If-None-Match": first.headers["etag"]})
    ).status_code
    assert edited == 304  # the first page's replies are unchanged: oldest first
    whole = await http.get(url, params={"limit": 10}, headers={"If-None-Match": first.headers["etag"]})
    assert whole.status_code == 200 and len(whole.json()["items"]) == 4
