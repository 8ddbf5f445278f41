"""Metrics across Sanic workers: prometheus-client's multiprocess mode and the metrics endpoint.

Each worker process writes its samples to memory-mapped files in one
directory (`PROMETHEUS_MULTIPROC_DIR`); the endpoint on `METRICS_PORT`, a
small HTTP server in the main process, reads and adds them up on every
scrape. prometheus-client picks its storage when it is first imported, so
`prepare()` runs before anything imports it (`halo serve` calls it first),
and the spawned workers inherit the variable.

This module imports prometheus-client only inside its functions, for that reason.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import socket
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

ENV_VAR = "PROMETHEUS_MULTIPROC_DIR"
METRICS_PATH = "/metrics"
_LIVE_FILE = re.compile(r"gauge_live\w+?_(\d+)\.db$")


@dataclass(frozen=True)
class MetricsDirectory:
    path: Path
    owned: bool  # created by us, so removed by us

    def remove(self) -> None:
        if self.owned:
            shutil.rmtree(self.path, ignore_errors=True)


def prepare(directory: str | None) -> MetricsDirectory:
    """Point prometheus-client at `directory` (a new private one when None) and empty it.

    Must run before prometheus-client is imported in this process. The files
    of a previous run are removed, so counters start from zero with the instance.
    """
    if "prometheus_client" in sys.modules:
        raise RuntimeError("prometheus_client was imported before its multiprocess directory was set")
    if directory is None:
        path, owned = Path(tempfile.mkdtemp(prefix="halo-metrics-")), True
    else:
        path, owned = Path(directory), False
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()
    os.environ[ENV_VAR] = str(path)
    return MetricsDirectory(path, owned)


def process_stopped(directory: str) -> None:
    """This process's live gauges (in-flight requests, pool use) leave the sums when it stops."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(os.getpid(), directory)


class _Collector:
    """Adds up every process's files; first forgets the live gauges of processes that died
    without saying so (a killed worker), so they do not count forever."""

    def __init__(self, directory: str) -> None:
        from prometheus_client.multiprocess import MultiProcessCollector

        self._directory = directory
        self._inner = MultiProcessCollector(None, directory)

    def collect(self) -> Any:
        from prometheus_client import multiprocess

        for path in glob.glob(os.path.join(self._directory, "gauge_live*.db")):
            match = _LIVE_FILE.search(path)
            if match and not _alive(int(match.group(1))):
                multiprocess.mark_process_dead(int(match.group(1)), self._directory)
        return self._inner.collect()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # scrapes are not worth a log line
        pass


class MetricsEndpoint:
    """`GET /metrics` on its own port, served from a thread of the main process."""

    def __init__(self, host: str, port: int, directory: str) -> None:
        from prometheus_client import CollectorRegistry, make_wsgi_app
        from prometheus_client.exposition import ThreadingWSGIServer

        # Only the files: the main process's own default registry would count twice.
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Collector(directory))
        metrics_app = make_wsgi_app(registry)

        def app(environ: dict[str, Any], start_response: Any) -> Any:
            if environ.get("REQUEST_METHOD") == "HEAD":  # the GET's status and headers, no body
                return _head_of(get, {**environ, "REQUEST_METHOD": "GET"}, start_response)
            return get(environ, start_response)

        def get(environ: dict[str, Any], start_response: Any) -> Any:
            if environ.get("PATH_INFO") != METRICS_PATH:
                start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
                return [b"metrics are at /metrics\n"]
            return metrics_app(environ, start_response)

        class Server(ThreadingWSGIServer):
            address_family = _family(host, port)

        self._server = make_server(host, port, app, Server, handler_class=_QuietHandler)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="metrics", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _head_of(app: Any, environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """HEAD through a WSGI app that knows only GET (prometheus-client's refuses HEAD with a 405):
    the GET's status and headers, its length included, and no body."""
    answer: list[Any] = []

    def keep(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        answer[:] = [status, headers]
        return lambda data: None

    body = b"".join(app(environ, keep))
    status, headers = answer
    headers = [(name, value) for name, value in headers if name.lower() != "content-length"]
    start_response(status, [*headers, ("Content-Length", str(len(body)))])
    return []


def _family(host: str, port: int) -> socket.AddressFamily:
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    return infos[0][0]
