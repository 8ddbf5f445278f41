"""docs/api.md's route tables and the served OpenAPI document list the same routes.

Both ways: every route /openapi.json lists is in a table, and every route a table
lists is served (v1.1 included), except the three the document itself is not about:
`/docs`, `/openapi.json` and `/metrics` (on the metrics port). The document is
fetched over HTTP from the app built in-process, whatever produces it.
"""

from __future__ import annotations

import re
from pathlib import Path

from halo.app import create_app
from halo.config import Settings

API_DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
# Documented routes that /openapi.json does not describe: the page, the document, the metrics port.
OUTSIDE_THE_DOCUMENT = {("GET", "/docs"), ("GET", "/openapi.json"), ("GET", "/metrics")}
ROUTE = re.compile(r"`(GET|PUT|POST|DELETE|OPTIONS|HEAD|PATCH|TRACE) (/[^`\s]*)`")


def normalise(path: str) -> str:
    """`/videos/{video_id}` and `/videos/{id}` are the same route."""
    return re.sub(r"\{[^}]*\}", "{}", path.rstrip("/") or "/")


def documented_routes(text: str) -> set[tuple[str, str]]:
    """(method, path) in the first cell of every table row of the document."""
    routes = set()
    for line in text.splitlines():
        if line.startswith("|"):
            first_cell = line.split("|")[1]
            routes.update((m, normalise(p)) for m, p in ROUTE.findall(first_cell))
    return routes


async def served_routes() -> set[tuple[str, str]]:
    settings = Settings(env="development", database_url="sqlite://:memory:", bcrypt_rounds=4, metrics_port=0)
    app = create_app(settings)
    _, response = await app.asgi_client.get("/openapi.json")
    assert response.status == 200, response.text
    document = response.json
    assert str(document.get("openapi", "")).startswith("3."), document.get("openapi")
    return {
        (method.upper(), normalise(path))
        for path, operations in document["paths"].items()
        for method in operations
        if method in HTTP_METHODS
    }


def test_the_route_tables_are_parsed() -> None:
    routes = documented_routes(API_DOC.read_text())
    assert ("POST", "/api/v1/auth/register") in routes
    assert ("DELETE", "/api/v1/videos/{}/like") in routes
    assert ("GET", "/openapi.json") in routes


async def test_every_served_route_is_documented() -> None:
    documented = documented_routes(API_DOC.read_text())
    served = await served_routes()
    assert len(served) > 10, served
    # The contract answers HEAD on every GET route and CORS preflights (OPTIONS) everywhere,
    # in prose rather than one row per route.
    documented_paths = {path for _, path in documented}
    missing = sorted(
        (method, path)
        for method, path in served
        if (method, path) not in documented
        and not (method == "HEAD" and ("GET", path) in documented)
        and not (method == "OPTIONS" and path in documented_paths)
    )
    assert not missing, f"served in /openapi.json but not in docs/api.md's route tables: {missing}"


async def test_every_documented_route_is_served() -> None:
    documented = documented_routes(API_DOC.read_text())
    served = await served_routes()
    assert documented >= OUTSIDE_THE_DOCUMENT
    unserved = sorted(documented - served - OUTSIDE_THE_DOCUMENT)
    assert not unserved, f"in docs/api.md's route tables but not served in /openapi.json: {unserved}"
