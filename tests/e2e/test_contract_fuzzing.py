"""Contract fuzzing: schemathesis against the served /openapi.json of the real server.

Every schemathesis check over every operation, authenticated ones included:
no 5xx, status codes, content types, headers and bodies as documented (the
error envelope everywhere), schema-violating requests refused, schema-valid
ones accepted, undeclared methods answered 405 with `Allow`. Deterministic
and bounded (`tests/e2e/schemathesis.toml`), so a CI run is repeatable.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.accounts import PASSWORD, REGISTER, new_account
from tests.support.server import RunningServer, base_env, migrate, serving

HERE = Path(__file__).parent
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"


@pytest.fixture(scope="module")
def fuzzed_server(database_url: str, redis_url: str) -> Iterator[RunningServer]:
    env = base_env(database_url, redis_url, WORKERS="2", RATE_LIMIT_RPS="100000", RATE_LIMIT_BURST="100000")
    migrate(env)
    yield from serving(env)


def _token(server: RunningServer, email: str) -> str:
    account = new_account(email=email, username=email.split("@")[0], is_adult=True)
    response = httpx.post(f"{server.url}{REGISTER}", json=account)
    if response.status_code == 409:
        response = httpx.post(f"{server.url}/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    token = response.json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    httpx.patch(f"{server.url}/api/v1/auth/profile", json={"adult_mode": True}, headers=headers)
    return token


def _schemathesis(server: RunningServer, token: str, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.support.schemathesis_hooks", "NO_COLOR": "1"}
    return subprocess.run(
        [
            str(SCHEMATHESIS),
            "--config-file",
            str(HERE / "schemathesis.toml"),
            "run",
            f"{server.url}/openapi.json",
            "--header",
            f"Authorization: Bearer {token}",
            "--seed",
            "20261126",
            *extra,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        cwd=HERE.parent.parent,
    )


def test_every_operation_honours_its_documented_contract(fuzzed_server: RunningServer) -> None:
    token = _token(fuzzed_server, "fuzz_owner@example.com")
    for i in range(3):  # something for the fuzzer to find: low ids exist and are visible
        httpx.post(
            f"{fuzzed_server.url}/api/v1/videos",
            json={"title": f"fuzz {i}"},
            headers={"Authorization": f"Bearer {token}"},
        )
    # logout would revoke the token the rest of the run uses: it gets a run of its own below
    result = _schemathesis(fuzzed_server, token, "--exclude-path", "/api/v1/auth/logout")
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
    assert "No issues found" in result.stdout or " passed" in result.stdout


def test_logout_honours_its_documented_contract(fuzzed_server: RunningServer) -> None:
    token = _token(fuzzed_server, "fuzz_logout@example.com")
    result = _schemathesis(fuzzed_server, token, "--include-path", "/api/v1/auth/logout")
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
