"""(v1.1) HTTP semantics over HTTP: Idempotency-Key, ETag and If-None-Match, HEAD, Link to the next
page, the IETF rate-limit fields, and the conformance details beside them."""

from __future__ import annotations

import asyncio
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from halo.config import Settings
from halo.redis.idempotency import RedisIdempotencyStore
from halo.redis.link import link_for
from halo.services.idempotency import Attempt, IdempotencyService, fingerprint
from tests.e2e.conftest import Account, assert_envelope, create_video, make_adult_mode, register, unique
from tests.support.accounts import REGISTER, new_account
from tests.support.server import RunningServer, base_env, embedded_env, migrate

VIDEOS = "/api/v1/videos"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _key() -> dict[str, str]:
    return {"Idempotency-Key": f"key-{uuid.uuid4()}"}


def _video_body(**fields: Any) -> dict[str, Any]:
    return {"title": unique("Video "), "stream_url": "https://cdn.example/v.m3u8", **fields}


async def _videos_of(client: httpx.AsyncClient, owner: Account) -> list[dict[str, Any]]:
    response = await client.get(VIDEOS, params={"user_id": owner.id, "limit": 100}, headers=owner.auth)
    assert response.status_code == 200, response.text
    return response.json()["items"]


# --- Idempotency-Key -------------------------------------------------------------


async def test_ten_identical_creates_at_once_make_one_video(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    headers, body = {**owner.auth, **_key()}, _video_body()
    responses = await asyncio.gather(*(client.post(VIDEOS, json=body, headers=headers) for _ in range(10)))
    assert {response.status_code for response in responses} <= {201, 409}, [r.text for r in responses]
    created = [response.json() for response in responses if response.status_code == 201]
    assert created
    assert len({video["id"] for video in created}) == 1
    for response in responses:
        if response.status_code == 409:
            assert_envelope(response, 409, "conflict")
    assert [video["id"] for video in await _videos_of(client, owner)] == [created[0]["id"]]


async def test_a_repeat_gets_the_first_answer_and_changes_nothing(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    headers, body = {**owner.auth, **_key()}, _video_body()
    first = await client.post(VIDEOS, json=body, headers=headers)
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    again = await client.post(
        VIDEOS,
        content=f'{{"stream_url": "{body["stream_url"]}",  "title": "{body["title"]}"}}',
        headers={**headers, "Content-Type": "application/json"},
    )  # same body, spelt differently
    assert again.status_code == 201, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert len(await _videos_of(client, owner)) == 1


async def test_a_repeat_with_another_body_is_refused(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    headers = {**owner.auth, **_key()}
    assert (await client.post(VIDEOS, json=_video_body(), headers=headers)).status_code == 201
    other = await client.post(VIDEOS, json=_video_body(), headers=headers)
    assert_envelope(other, 422, "idempotency_key_reused")
    assert len(await _videos_of(client, owner)) == 1


async def test_keys_are_per_caller(client: httpx.AsyncClient) -> None:
    first, second = await register(client), await register(client)
    key, body = _key(), _video_body()
    mine = await client.post(VIDEOS, json=body, headers={**first.auth, **key})
    theirs = await client.post(VIDEOS, json=body, headers={**second.auth, **key})
    assert mine.status_code == theirs.status_code == 201
    assert "idempotent-replayed" not in theirs.headers
    assert theirs.json()["id"] != mine.json()["id"]
    assert theirs.json()["user_id"] == second.id


@pytest.mark.parametrize("key", [b"", b"x" * 256, b"caf\xc3\xa9", b"tab\there"])
async def test_a_malformed_key_is_a_bad_request(client: httpx.AsyncClient, key: bytes) -> None:
    owner = await register(client)
    response = await client.post(VIDEOS, json=_video_body(), headers={**owner.auth, "Idempotency-Key": key})
    body = assert_envelope(response, 400, "bad_request")
    assert body["details"][0]["field"] == "Idempotency-Key"
    assert await _videos_of(client, owner) == []


async def test_a_repeat_while_the_first_is_in_progress_is_a_conflict(
    client: httpx.AsyncClient, redis_url: str
) -> None:
    """The first request is held in progress on "another instance": its claim, made through the
    service's own store on the Redis this server uses."""
    owner = await register(client)
    key, body = _key(), _video_body()
    link = link_for(Settings(env="development", database_url="sqlite://:memory:", redis_url=redis_url))
    service = IdempotencyService(RedisIdempotencyStore(link))
    try:
        attempt = await service.begin(owner.id, key["Idempotency-Key"], fingerprint("POST", VIDEOS, body))
        assert isinstance(attempt, Attempt)
        in_progress = await client.post(VIDEOS, json=body, headers={**owner.auth, **key})
        assert_envelope(in_progress, 409, "conflict")
        await service.abandon(attempt)  # the first failed: a retry goes ahead
        retried = await client.post(VIDEOS, json=body, headers={**owner.auth, **key})
        assert retried.status_code == 201, retried.text
    finally:
        await link.client.aclose()
    assert len(await _videos_of(client, owner)) == 1


async def test_ten_identical_comments_at_once_make_one_comment(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    video = await create_video(client, owner)
    path = f"{VIDEOS}/{video['id']}/comments"
    headers = {**owner.auth, **_key()}
    responses = await asyncio.gather(
        *(client.post(path, json={"body": "first!"}, headers=headers) for _ in range(10))
    )
    assert {response.status_code for response in responses} <= {201, 409}
    replay = await client.post(path, json={"body": "first!"}, headers=headers)
    assert replay.status_code == 201
    assert replay.headers["idempotent-replayed"] == "true"
    comments = (await client.get(path)).json()["items"]
    assert [comment["id"] for comment in comments] == [replay.json()["id"]]
    assert (await client.get(f"{VIDEOS}/{video['id']}")).json()["comment_count"] == 1


async def test_across_instances_a_key_is_processed_once(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    """A second instance on the same database and Redis: requests split between the two."""
    other = RunningServer(dict(server.env)).start()
    try:
        async with httpx.AsyncClient(base_url=other.url, timeout=30.0) as other_client:
            owner = await register(client)
            headers, body = {**owner.auth, **_key()}, _video_body()
            responses = await asyncio.gather(
                *(
                    (client if i % 2 else other_client).post(VIDEOS, json=body, headers=headers)
                    for i in range(10)
                )
            )
            assert {response.status_code for response in responses} <= {201, 409}
            replayed = await other_client.post(VIDEOS, json=body, headers=headers)
            assert replayed.headers["idempotent-replayed"] == "true"
            assert [video["id"] for video in await _videos_of(client, owner)] == [replayed.json()["id"]]
    finally:
        other.terminate()


def test_with_the_key_store_down_a_keyed_request_is_refused_and_not_processed(
    database_url: str, throwaway_redis: Any
) -> None:
    env = base_env(database_url, throwaway_redis.url, WORKERS="1")
    migrate(env)
    running = RunningServer(env).start()
    try:
        with httpx.Client(base_url=running.url, timeout=30.0) as http:
            registered = http.post(REGISTER, json=new_account())
            assert registered.status_code == 201, registered.text
            auth = {"Authorization": f"Bearer {registered.json()['token']}"}
            user_id = registered.json()["user"]["id"]
            throwaway_redis.stop()
            headers, body = {**auth, **_key()}, _video_body()
            for _ in range(2):
                refused = http.post(VIDEOS, json=body, headers=headers)
                assert refused.status_code == 503, refused.text
                assert refused.json()["error"] == "unavailable"
            listed = http.get(VIDEOS, params={"user_id": user_id}, headers=auth)
            assert listed.status_code == 200
            assert listed.json()["items"] == []
    finally:
        running.terminate()


async def test_a_request_that_fails_frees_its_key(client: httpx.AsyncClient) -> None:
    """A refused create (403: adult content from a non-adult) changes nothing and keeps no answer."""
    owner = await register(client)
    headers, body = {**owner.auth, **_key()}, _video_body(is_adult_content=True)
    for _ in range(2):
        refused = await client.post(VIDEOS, json=body, headers=headers)
        assert_envelope(refused, 403, "forbidden")
        assert "idempotent-replayed" not in refused.headers
    assert await _videos_of(client, owner) == []


async def test_the_embedded_default_keeps_keys_in_process(tmp_path: Path) -> None:
    env = embedded_env()
    migrate(env, cwd=tmp_path)
    embedded = RunningServer(env, cwd=tmp_path).start()
    try:
        async with httpx.AsyncClient(base_url=embedded.url, timeout=30) as http:
            owner = await register(http)
            headers, body = {**owner.auth, **_key()}, _video_body()
            responses = await asyncio.gather(
                *(http.post(VIDEOS, json=body, headers=headers) for _ in range(10))
            )
            assert {response.status_code for response in responses} <= {201, 409}
            replayed = await http.post(VIDEOS, json=body, headers=headers)
            assert replayed.headers["idempotent-replayed"] == "true"
            assert [video["id"] for video in await _videos_of(http, owner)] == [replayed.json()["id"]]
            assert_envelope(
                await http.post(VIDEOS, json=_video_body(), headers=headers), 422, "idempotency_key_reused"
            )
    finally:
        embedded.terminate()


# --- ETag and If-None-Match --------------------------------------------------------


async def test_a_video_has_a_tag_and_a_matching_request_gets_304(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    video = await create_video(client, owner)
    path = f"{VIDEOS}/{video['id']}"
    first = await client.get(path, headers=owner.auth)
    tag = first.headers["etag"]
    assert re.fullmatch(r'(W/)?"[^"]+"', tag)
    again = await client.get(path, headers={**owner.auth, "If-None-Match": tag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == tag
    assert again.headers["cache-control"] == "private"
    assert "authorization" in again.headers["vary"].lower()


async def test_ten_conditional_reads_at_once_are_all_304(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    video = await create_video(client, owner)
    path = f"{VIDEOS}/{video['id']}"
    tag = (await client.get(path, headers=owner.auth)).headers["etag"]
    responses = await asyncio.gather(
        *(client.get(path, headers={**owner.auth, "If-None-Match": tag}) for _ in range(10))
    )
    assert [(r.status_code, r.content, r.headers["etag"]) for r in responses] == [(304, b"", tag)] * 10


async def test_the_tag_changes_with_a_like_and_a_change(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    video = await create_video(client, owner)
    path = f"{VIDEOS}/{video['id']}"
    before = (await client.get(path, headers=owner.auth)).headers["etag"]
    assert (await client.put(f"{path}/like", headers=owner.auth)).status_code == 200
    liked = await client.get(path, headers={**owner.auth, "If-None-Match": before})
    assert liked.status_code == 200
    assert liked.headers["etag"] != before
    assert (await client.patch(path, json={"title": "renamed"}, headers=owner.auth)).status_code == 200
    renamed = await client.get(path, headers={**owner.auth, "If-None-Match": liked.headers["etag"]})
    assert renamed.status_code == 200
    assert renamed.json()["title"] == "renamed"
    assert renamed.headers["etag"] not in (before, liked.headers["etag"])


async def test_callers_who_see_different_bodies_never_share_a_tag(client: httpx.AsyncClient) -> None:
    owner = await register(client, is_adult=True)
    await make_adult_mode(client, owner)
    adult = await create_video(client, owner, is_adult_content=True)
    path = f"{VIDEOS}/{adult['id']}"
    mine = await client.get(path, headers=owner.auth)
    assert mine.status_code == 200
    hidden = await client.get(path, headers={"If-None-Match": mine.headers["etag"]})
    assert_envelope(hidden, 404, "not_found")
    assert "etag" not in hidden.headers
    public = await create_video(client, owner)
    anonymous = await client.get(f"{VIDEOS}/{public['id']}")
    signed_in = await client.get(f"{VIDEOS}/{public['id']}", headers=owner.auth)
    assert anonymous.headers["etag"] != signed_in.headers["etag"]
    crossed = await client.get(
        f"{VIDEOS}/{public['id']}", headers={"If-None-Match": signed_in.headers["etag"]}
    )
    assert crossed.status_code == 200


@pytest.mark.parametrize("form", ["weak", "strong", "list", "star"])
async def test_if_none_match_uses_weak_comparison(client: httpx.AsyncClient, form: str) -> None:
    owner = await register(client)
    video = await create_video(client, owner)
    path = f"{VIDEOS}/{video['id']}"
    tag = (await client.get(path)).headers["etag"]
    opaque = tag.removeprefix("W/")
    header = {"weak": f"W/{opaque}", "strong": opaque, "list": f'"nope", W/"other", {tag}', "star": "*"}[form]
    assert (await client.get(path, headers={"If-None-Match": header})).status_code == 304
    assert (await client.get(path, headers={"If-None-Match": '"nope", W/"other"'})).status_code == 200


async def test_every_tagged_representation_answers_304(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    video = await create_video(client, owner)
    comment = await client.post(f"{VIDEOS}/{video['id']}/comments", json={"body": "hi"}, headers=owner.auth)
    assert comment.status_code == 201
    paths = [
        VIDEOS,
        f"{VIDEOS}?user_id={owner.id}",
        f"{VIDEOS}/{video['id']}",
        f"{VIDEOS}/{video['id']}/engagement",
        f"{VIDEOS}/{video['id']}/comments",
        f"/api/v1/comments/{comment.json()['id']}/replies",
        "/api/v1/auth/profile",
    ]
    for path in paths:
        first = await client.get(path, headers=owner.auth)
        assert first.status_code == 200, (path, first.text)
        tag = first.headers["etag"]
        second = await client.get(path, headers={**owner.auth, "If-None-Match": tag})
        assert (second.status_code, second.content, second.headers.get("etag")) == (304, b"", tag), path


async def test_list_and_profile_tags_follow_their_content(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    await create_video(client, owner)
    listing = f"{VIDEOS}?user_id={owner.id}"
    before = (await client.get(listing)).headers["etag"]
    await create_video(client, owner)
    assert (await client.get(listing, headers={"If-None-Match": before})).status_code == 200
    profile = await client.get("/api/v1/auth/profile", headers=owner.auth)
    changed = await client.patch("/api/v1/auth/profile", json={"bio": "new"}, headers=owner.auth)
    assert changed.status_code == 200
    after = await client.get(
        "/api/v1/auth/profile", headers={**owner.auth, "If-None-Match": profile.headers["etag"]}
    )
    assert after.status_code == 200
    assert after.json()["user"]["bio"] == "new"


async def test_the_batch_held_and_trending_forms_are_tagged_and_linked(client: httpx.AsyncClient) -> None:
    owner, fan = await register(client), await register(client)
    video = await create_video(client, owner, comments_policy="approval")
    await create_video(client, owner)
    path = f"{VIDEOS}/{video['id']}/comments"
    for text in ("one", "two"):
        held = await client.post(path, json={"body": text}, headers=fan.auth)
        assert held.json()["status"] == "held", held.text
    pages = {
        f"{VIDEOS}?ids={video['id']}": None,
        f"{path}?status=held&limit=1": {"status": "held", "limit": "1"},
        f"{VIDEOS}?sort=-trending&user_id={owner.id}&limit=1": {
            "sort": "-trending",
            "user_id": str(owner.id),
            "limit": "1",
        },
    }
    for page, kept in pages.items():
        for _ in range(3):  # a trending ranking rebuilt between the two reads is a new representation
            first = await client.get(page, headers=owner.auth)
            assert first.status_code == 200, (page, first.text)
            again = await client.get(page, headers={**owner.auth, "If-None-Match": first.headers["etag"]})
            if again.status_code == 304 or again.headers.get("etag") == first.headers["etag"]:
                break
        assert (again.status_code, again.content, again.headers["etag"]) == (
            304,
            b"",
            first.headers["etag"],
        ), page
        if kept is None:
            assert "link" not in first.headers
            continue
        match = re.fullmatch(r'<([^>]+)>; rel="next"', first.headers["link"])
        assert match, page
        target = httpx.URL(match.group(1))
        assert dict(target.params) == {**kept, "cursor": first.json()["next_cursor"]}
        following = await client.get(match.group(1), headers=owner.auth)
        assert following.status_code == 200, following.text
        assert following.json()["items"][0]["id"] != first.json()["items"][0]["id"]


async def test_a_304_says_what_its_200_says_about_caching_and_cors(client: httpx.AsyncClient) -> None:
    """RFC 9110 15.4.5: the 304 carries the Vary (and Cache-Control) its 200 would have, a large
    gzip-encoded list's Accept-Encoding included; a browser reading it gets the same CORS headers."""
    owner = await register(client)
    for _ in range(3):
        await create_video(client, owner, description="long " * 100)
    video = await create_video(client, owner)
    origin = {"Origin": "https://app.example", "Accept-Encoding": "gzip"}
    kept = {"vary", "cache-control", "access-control-allow-origin", "access-control-expose-headers", "etag"}
    for path in (f"{VIDEOS}?user_id={owner.id}", f"{VIDEOS}/{video['id']}"):
        for headers in (origin, {**origin, **owner.auth}):
            full = await client.get(path, headers=headers)
            assert full.status_code == 200
            if path.endswith(f"={owner.id}"):
                assert full.headers["content-encoding"] == "gzip"  # over 1 KiB
            assert "accept-encoding" in full.headers["vary"].lower()
            again = await client.get(path, headers={**headers, "If-None-Match": full.headers["etag"]})
            assert again.status_code == 304
            assert {name: again.headers.get(name) for name in kept} == {
                name: full.headers.get(name) for name in kept
            }, path
            assert again.headers["ratelimit-policy"] == full.headers["ratelimit-policy"]


# --- HEAD ----------------------------------------------------------------------------


async def test_head_answers_every_get_route_like_get_without_a_body(client: httpx.AsyncClient) -> None:
    """Every GET route the service serves: the documented ones, the document itself, /docs and
    its files; signed in and anonymous from an allowed origin (the hot routes do their own CORS);
    found and not found; the list's batch, held-comment and paged forms."""
    owner = await register(client)
    video = await create_video(client, owner)
    comment = await client.post(f"{VIDEOS}/{video['id']}/comments", json={"body": "hi"}, headers=owner.auth)
    await create_video(client, owner)
    values = {"video_id": video["id"], "comment_id": comment.json()["id"], "id": video["id"]}
    document = (await client.get("/openapi.json")).json()
    routes = [path for path, operations in document["paths"].items() if "get" in operations]
    assert len(routes) > 10
    page = (await client.get("/docs")).text
    assets = re.findall(r'src="(/docs/[^"]+)"', page)
    assert assets
    paths = [re.sub(r"\{(\w+)\}", lambda match: str(values[match.group(1)]), route) for route in routes]
    paths = [f"{path}?user_id={owner.id}" if path == VIDEOS else path for path in paths]  # this test's only
    paths += [
        "/openapi.json",
        "/docs",
        *assets,
        "/docs/redoc.LICENSE",
        f"{VIDEOS}?user_id={owner.id}&limit=1",  # with a Link
        f"{VIDEOS}?ids={video['id']},999999999",
        f"{VIDEOS}/{video['id']}/comments?status=held",
        f"{VIDEOS}/999999999",
        "/api/v1/comments/999999999/replies",
    ]
    volatile = {"date", "x-request-id", "ratelimit-remaining", "ratelimit"}
    origin = {"Origin": "https://app.example"}
    for headers in ({**owner.auth, **origin}, origin, {**owner.auth, "Accept-Encoding": "identity"}):
        for path in paths:
            got = await client.get(path, headers=headers)
            head = await client.head(path, headers=headers)
            assert head.status_code == got.status_code, path
            assert head.content == b"", path
            skip = volatile | (
                {"content-length", "etag"} if path.startswith("/health") else set()
            )  # latencies
            same = {name: value for name, value in got.headers.items() if name not in skip}
            assert {name: value for name, value in head.headers.items() if name not in skip} == same, (
                path,
                headers.keys(),
            )
            if "etag" in got.headers and not path.startswith("/health"):
                conditional = await client.head(
                    path, headers={**headers, "If-None-Match": got.headers["etag"]}
                )
                assert (conditional.status_code, conditional.content) == (304, b""), path


# --- Link to the next page -------------------------------------------------------------


async def test_pages_link_to_the_next_with_the_other_parameters_kept(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    for _ in range(3):
        await create_video(client, owner)
    params = {"user_id": str(owner.id), "limit": "2", "sort": "title"}
    first = await client.get(VIDEOS, params=params)
    match = re.fullmatch(r'<([^>]+)>; rel="next"', first.headers["link"])
    assert match
    target = httpx.URL(match.group(1))
    assert target.path == VIDEOS
    assert dict(target.params) == {**params, "cursor": first.json()["next_cursor"]}
    second = await client.get(match.group(1))
    assert second.status_code == 200
    assert len(second.json()["items"]) == 1
    assert second.json()["next_cursor"] is None
    assert "link" not in second.headers


async def test_comment_pages_link_onward(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    video = await create_video(client, owner)
    path = f"{VIDEOS}/{video['id']}/comments"
    for text in ("one", "two"):
        assert (await client.post(path, json={"body": text}, headers=owner.auth)).status_code == 201
    first = await client.get(path, params={"limit": "1"})
    link = first.headers["link"]
    target = httpx.URL(re.fullmatch(r'<([^>]+)>; rel="next"', link).group(1))  # type: ignore[union-attr]
    assert target.path == path
    assert dict(target.params) == {"limit": "1", "cursor": first.json()["next_cursor"]}
    assert (await client.get(str(target))).json()["items"][0]["body"] == "one"


# --- rate limit fields, request ids, presence --------------------------------------------


async def test_rate_limit_fields_in_the_ietf_form_beside_the_old_ones(client: httpx.AsyncClient) -> None:
    response = await client.get(VIDEOS, headers={"Origin": "https://app.example"})
    assert re.fullmatch(r'"default";q=\d+;w=\d+', response.headers["ratelimit-policy"])
    remaining = response.headers["ratelimit-remaining"]
    assert re.fullmatch(rf'"default";r={remaining};t=\d+', response.headers["ratelimit"])
    assert response.headers["ratelimit-limit"]
    exposed = {name.strip().lower() for name in response.headers["access-control-expose-headers"].split(",")}
    assert {"ratelimit-policy", "ratelimit", "ratelimit-limit", "ratelimit-remaining"} <= exposed


async def test_browsers_may_send_an_idempotency_key_and_if_none_match(client: httpx.AsyncClient) -> None:
    preflight = await client.options(
        VIDEOS,
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, idempotency-key, if-none-match",
        },
    )
    assert preflight.status_code == 204
    allowed = {name.strip().lower() for name in preflight.headers["access-control-allow-headers"].split(",")}
    assert {"idempotency-key", "if-none-match"} <= allowed


async def test_a_generated_request_id_is_a_canonical_uuid(client: httpx.AsyncClient) -> None:
    for headers in ({}, {"X-Request-ID": "not valid!"}):
        response = await client.get(VIDEOS, headers=headers)
        assert UUID.fullmatch(response.headers["x-request-id"]), response.headers["x-request-id"]
    refused_early = await client.get(f"{VIDEOS}?q={'a' * 9000}")  # 414 before any middleware ran
    assert refused_early.status_code == 414
    assert UUID.fullmatch(refused_early.headers["x-request-id"]), refused_early.headers["x-request-id"]
    assert refused_early.json()["request_id"] == refused_early.headers["x-request-id"]


@pytest.mark.parametrize(
    "viewer_id", ["short", "bad id!", 42, None, ["a-well-formed-id"], {"id": 1}, "x" * 65]
)
async def test_a_signed_in_heartbeat_ignores_viewer_id(client: httpx.AsyncClient, viewer_id: Any) -> None:
    owner = await register(client)
    video = await create_video(client, owner)
    path = f"{VIDEOS}/{video['id']}/presence"
    beat = await client.post(path, json={"viewer_id": viewer_id}, headers=owner.auth)
    assert beat.status_code == 200, beat.text
    left = await client.request("DELETE", path, json={"viewer_id": viewer_id}, headers=owner.auth)
    assert left.status_code == 200, left.text
    viewed = await client.post(
        f"{VIDEOS}/{video['id']}/views", json={"viewer_id": viewer_id}, headers=owner.auth
    )
    assert viewed.status_code == 202, viewed.text  # a view's viewer_id: "as for presence"
    if viewer_id is not None:  # anonymous: the same viewer_id is checked, and refused
        anonymous = await client.post(path, json={"viewer_id": viewer_id})
        assert assert_envelope(anonymous, 422, "validation_failed")["details"][0]["field"] == "viewer_id"
        leaving = await client.delete(path, params={"viewer_id": str(viewer_id)})
        assert assert_envelope(leaving, 422, "validation_failed")["details"][0]["field"] == "viewer_id"
    signed_in_query = await client.delete(path, params={"viewer_id": "bad id!"}, headers=owner.auth)
    assert signed_in_query.status_code == 200, signed_in_query.text
