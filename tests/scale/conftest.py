"""Scale-out: three instances (one worker each) behind a real nginx, sharing PostgreSQL and Redis.

Run by `make scale-test` (and `.ci/run`), not by `make test`: every module here
is marked `scale`, which the default pytest options deselect. Without nginx
the tests skip and say why; under CI=true they fail. Figures measured along
the way (latencies, unknown outcomes during a failover) are printed at the
end of the run, never asserted.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support.fleet import Fleet
from tests.support.nginx import find_nginx
from tests.support.server import base_env

FIGURES: list[str] = []


def report(line: str) -> None:
    """A measured figure for the summary at the end of the run."""
    FIGURES.append(line)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.section("scale-out figures (measured, not asserted)")
        for line in FIGURES:
            terminalreporter.write_line(line)


def fleet_env(database_url: str, redis_url: str, **overrides: str) -> dict[str, str]:
    defaults = {
        "WORKERS": "1",
        "RATE_LIMIT_BACKEND": "redis",
        "TRUSTED_PROXIES": "127.0.0.1/32",  # nginx; the client's address comes from its X-Forwarded-For
        "DATABASE_POOL_MIN": "1",
        "DATABASE_POOL_MAX": "4",  # 3 instances x 4: modest next to PostgreSQL's max_connections
        "SHUTDOWN_TIMEOUT_SECONDS": "10",
    }
    return base_env(database_url, redis_url, **{**defaults, **overrides})


def start_fleet(env: dict[str, str]) -> Fleet:
    if find_nginx() is None:
        reason = "nginx is not installed (Debian: apt-get install nginx); the scale-out tests need it"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return Fleet(env).start()


@pytest.fixture(scope="session")
def fleet(database_url: str, redis_url: str) -> Iterator[Fleet]:
    """The shared fleet, with the default rate limit. A test that stops an instance starts it again."""
    running = start_fleet(fleet_env(database_url, redis_url))
    yield running
    running.stop()
