"""The HTTP pipeline over the wire: envelope on framework errors, ids, CORS, gzip, caching, docs, logs."""

from __future__ import annotations

import gzip
import json
import socket

import httpx

from tests.e2e.conftest import assert_envelope, register
from tests.support.server import RunningServer


async def test_request_id_is_echoed_when_sane_and_replaced_otherwise(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/live", headers={"X-Request-ID": "abc.DEF:123-_"})
    assert response.headers["x-request-id"] == "abc.DEF:123-_"
    response = await client.get("/health/live", headers={"X-Request-ID": "bad id with spaces"})
    assert response.headers["x-request-id"] != "bad id with spaces"
    assert len(response.headers["x-request-id"]) >= 32
    response = await client.get("/health/live", headers={"X-Request-ID": "x" * 129})
    assert response.headers["x-request-id"] != "x" * 129


async def test_framework_errors_use_the_envelope(client: httpx.AsyncClient) -> None:
    assert_envelope(await client.get("/api/v1/nothing-here"), 404, "not_found")
    response = await client.delete("/api/v1/auth/login")
    assert_envelope(response, 405, "method_not_allowed")
    assert "POST" in response.headers["allow"]


async def test_body_over_the_limit_is_413(client: httpx.AsyncClient) -> None:
    payload = b'{"email": "' + b"a" * (1024 * 1024 + 10) + b'"}'
    response = await client.post(
        "/api/v1/auth/login", content=payload, headers={"content-type": "application/json"}
    )
    assert_envelope(response, 413, "payload_too_large")


def _raw(server: RunningServer, request: bytes) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
            if b"\r\n\r\n" in data:
                head, _, body = data.partition(b"\r\n\r\n")
                length = [line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")]
                if length and len(body) >= int(length[0].split(b":")[1]):
                    break
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def test_long_request_line_is_414_and_huge_headers_431(server: RunningServer) -> None:
    for length in (9 * 1024, 20 * 1024):  # under and over the whole-head ceiling
        status, _, body = _raw(
            server, f"GET /health/live?{'a' * length} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
        )
        assert status == 414
        assert json.loads(body)["error"] == "uri_too_long"
    many = "".join(f"X-Filler-{i}: {'b' * 100}\r\n" for i in range(200))
    status, _, body = _raw(server, f"GET /health/live HTTP/1.1\r\nHost: x\r\n{many}\r\n".encode())
    assert status == 431
    assert json.loads(body)["error"] == "headers_too_large"


async def test_large_responses_are_gzipped_for_clients_that_accept_it(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json", headers={"Accept-Encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert "Accept-Encoding" in response.headers["vary"]
    assert response.json()["openapi"].startswith("3.")  # httpx decompresses
    raw = await client.get("/openapi.json", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in raw.headers
    small = await client.get("/health/live", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in small.headers


async def test_gzip_body_is_really_gzip(server: RunningServer) -> None:
    async with (
        httpx.AsyncClient(base_url=server.url) as http,
        http.stream("GET", "/openapi.json", headers={"Accept-Encoding": "gzip"}) as response,
    ):
        raw = b"".join([chunk async for chunk in response.aiter_raw()])
    assert json.loads(gzip.decompress(raw))["info"]["title"] == "HALO API"


async def test_authenticated_responses_are_private(client: httpx.AsyncClient) -> None:
    account = await register(client)
    response = await client.get("/api/v1/auth/profile", headers=account.auth)
    assert response.headers["cache-control"] == "private"
    assert "Authorization" in response.headers["vary"]
    assert response.headers["x-content-type-options"] == "nosniff"
    anonymous = await client.get("/health/live")
    assert "private" not in anonymous.headers.get("cache-control", "")


async def test_cors_preflight_and_exposed_headers(client: httpx.AsyncClient) -> None:
    preflight = await client.options(
        "/api/v1/auth/profile",
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "https://app.example"
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    response = await client.get("/health/live", headers={"Origin": "https://app.example"})
    assert response.headers["access-control-allow-origin"] == "https://app.example"
    exposed = {h.strip().lower() for h in response.headers["access-control-expose-headers"].split(",")}
    assert exposed == {
        "x-request-id",
        "ratelimit-limit",
        "ratelimit-remaining",
        "ratelimit-policy",
        "ratelimit",
        "retry-after",
        "x-engagement",
        "etag",
        "link",
        "idempotent-replayed",
    }
    stranger = await client.get("/health/live", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in stranger.headers
    stranger_preflight = await client.options(
        "/api/v1/auth/profile",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in stranger_preflight.headers


async def test_cors_on_the_hot_routes_matches_every_other_route(client: httpx.AsyncClient) -> None:
    """The detail and the API root do CORS without sanic-ext's hook: the same headers, once each."""
    account = await register(client)
    video = (await client.post("/api/v1/videos", json={"title": "cors"}, headers=account.auth)).json()
    origin = {"Origin": "https://app.example"}
    reference = await client.get("/health/live", headers=origin)
    for path in ("/api/v1", f"/api/v1/videos/{video['id']}", "/api/v1/videos/999999999"):
        response = await client.get(path, headers=origin)
        assert response.headers.get_list("access-control-allow-origin") == ["https://app.example"], path
        exposed = response.headers["access-control-expose-headers"]
        assert set(exposed.lower().split(",")) == set(
            reference.headers["access-control-expose-headers"].split(",")
        )
        assert "origin" in response.headers["vary"].lower(), path
        stranger = await client.get(path, headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in stranger.headers
        assert "Origin" in stranger.headers["vary"]


async def test_rate_limit_headers_on_api_responses_but_not_probes(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/auth/profile")
    assert response.headers["ratelimit-limit"] == "2000"
    assert int(response.headers["ratelimit-remaining"]) >= 0
    assert "ratelimit-limit" not in (await client.get("/health/live")).headers


async def test_health_probes(client: httpx.AsyncClient) -> None:
    health = await client.get("/health")
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["redis"]["status"] == "ok"
    assert isinstance(body["checks"]["database"]["latency_ms"], float)
    assert body["version"]
    assert (await client.get("/health/live")).json() == {"status": "alive"}
    assert (await client.get("/health/ready")).json() == {"status": "ready"}


async def test_openapi_document_and_docs_page(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    assert document["openapi"] == "3.0.3"  # sanic-ext writes OpenAPI 3.0.3
    paths = document["paths"]
    for path, method in [
        ("/api/v1/auth/register", "post"),
        ("/api/v1/auth/login", "post"),
        ("/api/v1/auth/logout", "post"),
        ("/api/v1/auth/profile", "get"),
        ("/api/v1/auth/profile", "patch"),
        ("/health", "get"),
        ("/health/live", "get"),
        ("/health/ready", "get"),
    ]:
        operation = paths[path][method]
        assert operation["responses"], (path, method)
    register_op = paths["/api/v1/auth/register"]["post"]
    schema_ref = register_op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = document["components"]["schemas"][schema_ref.rsplit("/", 1)[1]]
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"email", "username", "password", "display_name"}
    listing = paths["/api/v1/videos"]["get"]
    assert {p["name"] for p in listing["parameters"] if p["in"] == "query"} == {
        "limit",
        "cursor",
        "sort",
        "user_id",
        "is_live",
        "q",
        "ids",
    }
    assert listing["security"] == [{}, {"bearerAuth": []}]
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert "text/html" in docs.headers["content-type"]


async def test_each_request_writes_one_structured_log_line(
    client: httpx.AsyncClient, server: RunningServer
) -> None:
    request_id = "log-line-check-1"
    await client.get("/api/v1/auth/profile", headers={"X-Request-ID": request_id})
    await client.get("/health/live", headers={"X-Request-ID": "probe-should-not-log"})
    import asyncio

    for _ in range(50):
        lines = [json.loads(line) for line in server.logs().splitlines() if line.startswith("{")]
        mine = [
            line for line in lines if line.get("request_id") == request_id and line["logger"] == "halo.access"
        ]
        if mine:
            break
        await asyncio.sleep(0.1)
    assert len(mine) == 1
    http = mine[0]["http"]
    assert http["method"] == "GET"
    assert http["route"] == "/api/v1/auth/profile"
    assert http["status"] == 401
    assert http["client_ip"] == "127.0.0.1"
    assert http["duration_ms"] >= 0
    assert not [
        line
        for line in lines
        if line.get("request_id") == "probe-should-not-log" and line["logger"] == "halo.access"
    ]


async def test_responses_match_their_documented_schemas(client: httpx.AsyncClient) -> None:
    from halo.api import schemas
    from tests.e2e.conftest import create_video

    account = await register(client)
    video = await create_video(client, account)
    vid = video["id"]
    checks = [
        (schemas.TokenResponse, account.body),
        (schemas.UserEnvelope, (await client.get("/api/v1/auth/profile", headers=account.auth)).json()),
        (schemas.VideoOut, video),
        (schemas.VideoPage, (await client.get("/api/v1/videos", params={"user_id": account.id})).json()),
        (schemas.EngagementOut, (await client.get(f"/api/v1/videos/{vid}/engagement")).json()),
        (schemas.ViewCountOut, (await client.post(f"/api/v1/videos/{vid}/views")).json()),
        (schemas.LikeOut, (await client.put(f"/api/v1/videos/{vid}/like", headers=account.auth)).json()),
        (
            schemas.CommentOut,
            (
                await client.post(f"/api/v1/videos/{vid}/comments", json={"body": "x"}, headers=account.auth)
            ).json(),
        ),
        (schemas.CommentPage, (await client.get(f"/api/v1/videos/{vid}/comments")).json()),
        (
            schemas.PresenceOut,
            (await client.post(f"/api/v1/videos/{vid}/presence", headers=account.auth)).json(),
        ),
        (schemas.HealthBody, (await client.get("/health")).json()),
        (schemas.ProbeBody, (await client.get("/health/ready")).json()),
        (schemas.ErrorBody, (await client.get("/api/v1/videos/0")).json()),
    ]
    for model, body in checks:
        model.model_validate(body)  # extra="forbid": no undocumented field either


async def test_api_root_names_the_service_and_its_documents(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1")
    assert response.status_code == 200
    body = response.json()
    assert body["service"] == "halo" and body["docs"] == "/docs" and body["openapi"] == "/openapi.json"
    assert response.headers["ratelimit-limit"]  # a real API route: rate limited, logged, measured
