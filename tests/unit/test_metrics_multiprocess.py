"""Metrics across processes: what several processes record, one scrape of the endpoint adds up.

Each "worker" here is a real Python process that writes into the directory,
as Sanic's spawned workers do; the endpoint runs in this process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from halo.observability.multiprocess import MetricsEndpoint
from tests.support.metrics import Scrape, parse
from tests.support.services import free_port


def _worker(directory: Path, code: str) -> None:
    """Run `code` in a fresh process in multiprocess mode (prometheus-client reads the variable on import)."""
    script = "from halo.observability import metrics\n" + textwrap.dedent(code)
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


@pytest.fixture
def endpoint(tmp_path: Path) -> Iterator[tuple[Path, MetricsEndpoint]]:
    running = MetricsEndpoint("127.0.0.1", free_port(), str(tmp_path))
    yield tmp_path, running
    running.close()


def _scrape(endpoint: MetricsEndpoint) -> Scrape:
    response = httpx.get(f"http://127.0.0.1:{endpoint.port}/metrics", timeout=10)
    assert response.status_code == 200
    return parse(response.text)


def test_view_flush_functions_show_up_in_the_scrape_summed_over_workers(
    endpoint: tuple[Path, MetricsEndpoint],
) -> None:
    directory, running = endpoint
    _worker(directory, "metrics.record_view_flush(views=120, videos=7, lag_seconds=2.5)")
    _worker(
        directory,
        """
        metrics.record_view_flush(views=30, videos=3, lag_seconds=0.5)
        metrics.record_view_flush(views=0, videos=0, lag_seconds=0.0)
        metrics.record_view_flush_failure()
        """,
    )
    scraped = _scrape(running)
    assert scraped.value("halo_view_flush_batches_total") == 3
    assert scraped.value("halo_view_flush_views_total") == 150
    assert scraped.value("halo_view_flush_videos_total") == 10
    assert scraped.value("halo_view_flush_failures_total") == 1
    last_success = scraped.value("halo_view_flush_last_success_timestamp_seconds")
    assert last_success is not None
    assert time.time() - 60 < last_success <= time.time()


LIVE_WORKER = """
import sys
from halo.observability import metrics
family = metrics.metrics()
family.active_requests.inc(2)
family.request_duration.labels("GET", "/api/v1/auth/profile", "200").observe(0.01)
metrics.set_database_pool("default", used=3, idle=2, maximum=10)
print("recorded", flush=True)
sys.stdin.read()  # alive until the test closes our stdin
"""


def _live_worker(directory: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    process = subprocess.Popen(
        [sys.executable, "-c", LIVE_WORKER], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "recorded"
    return process


def test_live_gauges_add_up_over_live_workers_and_leave_with_a_killed_one(
    endpoint: tuple[Path, MetricsEndpoint],
) -> None:
    directory, running = endpoint
    workers = [_live_worker(directory), _live_worker(directory)]
    try:
        scraped = _scrape(running)
        assert scraped.value("http_server_active_requests") == 4
        assert scraped.value("db_client_connection_max", db_client_connection_pool_name="default") == 20
        used = {"db_client_connection_pool_name": "default", "db_client_connection_state": "used"}
        assert scraped.value("db_client_connection_count", **used) == 6
    finally:
        workers[0].kill()  # dies without saying so, mid-request
        workers[0].wait(timeout=30)
    scraped = _scrape(running)
    assert scraped.value("http_server_active_requests") == 2
    assert scraped.value("db_client_connection_max", db_client_connection_pool_name="default") == 10
    # what it counted stays counted: counters never go back
    profile = {
        "http_request_method": "GET",
        "http_route": "/api/v1/auth/profile",
        "http_response_status_code": "200",
    }
    assert scraped.value("http_server_request_duration_seconds_count", **profile) == 2
    assert workers[1].stdin is not None
    workers[1].stdin.close()
    workers[1].wait(timeout=30)


def test_only_metrics_path_is_served(endpoint: tuple[Path, MetricsEndpoint]) -> None:
    _, running = endpoint
    assert httpx.get(f"http://127.0.0.1:{running.port}/", timeout=10).status_code == 404
    assert httpx.get(f"http://127.0.0.1:{running.port}/metrics", timeout=10).status_code == 200


def test_head_answers_like_get_without_a_body(endpoint: tuple[Path, MetricsEndpoint]) -> None:
    _, running = endpoint
    volatile = {"date"}
    for path, encoding in (("/metrics", "identity"), ("/metrics", "gzip"), ("/", "identity")):
        url, headers = f"http://127.0.0.1:{running.port}{path}", {"Accept-Encoding": encoding}
        got = httpx.get(url, headers=headers, timeout=10)
        head = httpx.head(url, headers=headers, timeout=10)
        assert head.status_code == got.status_code, path
        assert head.content == b""
        assert {k: v for k, v in head.headers.items() if k not in volatile} == {
            k: v for k, v in got.headers.items() if k not in volatile
        }, (path, encoding)  # Content-Length among them (the 404's body is not empty)


def test_directory_must_be_set_before_prometheus_client_is_imported(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import prometheus_client
        from halo.observability import multiprocess
        try:
            multiprocess.prepare({str(tmp_path)!r})
        except RuntimeError as exc:
            print("refused:", exc)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert "refused" in result.stdout, result.stderr


def test_prepare_empties_a_given_directory_and_makes_a_private_one_otherwise(tmp_path: Path) -> None:
    (tmp_path / "counter_12345.db").write_bytes(b"stale")
    (tmp_path / "keep.txt").write_text("not ours")
    script = textwrap.dedent(
        f"""
        import os
        from halo.observability import multiprocess
        given = multiprocess.prepare({str(tmp_path)!r})
        assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == {str(tmp_path)!r}
        assert not given.owned
        private = multiprocess.prepare(None)
        assert private.owned and private.path.is_dir()
        private.remove()
        assert not private.path.exists()
        print("ok")
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "ok", result.stderr
    assert not (tmp_path / "counter_12345.db").exists()
    assert (tmp_path / "keep.txt").exists()
