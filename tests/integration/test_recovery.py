"""Recovery: an unexpected exception is a 500 envelope for the client and a stack trace in the log."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sanic.request import Request

from halo.app import create_app
from halo.config import Settings
from halo.db.database import migrate


@pytest.fixture
async def app(tmp_path: Path):
    settings = Settings(env="development", database_url=f"sqlite://{tmp_path}/halo.db", bcrypt_rounds=4)
    await migrate(settings, report=lambda _: None)
    application = create_app(settings)

    async def explode(request: Request) -> None:
        raise RuntimeError("boom: secret internals SELECT * FROM users")

    application.add_route(explode, "/api/v1/explode")
    return application


async def test_crash_is_a_500_envelope_and_a_logged_stack(app, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="halo.crash"):
        _, response = await app.asgi_client.get("/api/v1/explode", headers={"X-Request-ID": "crash-1"})
    assert response.status == 500
    assert response.json == {
        "error": "internal_error",
        "message": "internal server error",
        "request_id": "crash-1",
    }
    assert "SELECT" not in response.text
    assert "Traceback" not in response.text
    records = [r for r in caplog.records if r.name == "halo.crash"]
    assert records
    assert records[0].exc_info is not None
    assert "boom" in "".join(caplog.text)
