"""The real service as a subprocess (`halo serve`), for end-to-end tests over HTTP."""

from __future__ import annotations

import atexit
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.services import free_port

HALO = [sys.executable, "-m", "halo"]
_STARTED: list[subprocess.Popen[bytes]] = []


@atexit.register
def _kill_leftovers() -> None:
    """A test that failed half-way must not leave a server running after pytest exits."""
    for process in _STARTED:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)


def base_env(database_url: str, redis_url: str | None, **overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HALO_", "OTEL_"))}
    for name in (
        "ENV",
        "DATABASE_URL",
        "REDIS_URL",
        "WORKERS",
        "PORT",
        "METRICS_PORT",
        "JWT_SECRET",
        "LOG_FORMAT",
        "PROMETHEUS_MULTIPROC_DIR",  # each server gets a private one unless a test sets it
    ):
        env.pop(name, None)
    env.update(
        # Development: production refuses BCRYPT_ROUNDS below 10, and tests hash at 4. Everything
        # else production would do is set here explicitly (a strong random secret, JSON logs).
        ENV="development",
        HOST="127.0.0.1",
        JWT_SECRET=secrets.token_urlsafe(48),
        DATABASE_URL=database_url,
        DATABASE_POOL_MAX="10",
        BCRYPT_ROUNDS="4",
        LOG_FORMAT="json",
        LOG_LEVEL="INFO",
        VIEW_FLUSH_INTERVAL_SECONDS="0.5",
        REGISTER_MAX_PER_IP="1000000",  # every test registers from 127.0.0.1; the limit's own tests lower it
        VIEW_WINDOW_SECONDS="0",  # tests count many views from 127.0.0.1; the window's own tests set one
    )
    if redis_url is not None:
        env["REDIS_URL"] = redis_url
    env.update(overrides)
    return env


def embedded_env(**overrides: str) -> dict[str, str]:
    """The embedded default: no DATABASE_URL or REDIS_URL (SQLite in the working directory and the
    in-process store), one worker, a generated secret."""
    drop = ("DATABASE_URL", "REDIS_URL", "WORKERS", "JWT_SECRET")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(ENV="development", HOST="127.0.0.1", BCRYPT_ROUNDS="4", **overrides)
    return env


def migrate(env: dict[str, str], cwd: Path | None = None) -> None:
    result = subprocess.run([*HALO, "migrate"], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


@dataclass
class RunningServer:
    """`halo serve` on free ports: `port` for the API, `metrics_port` for /metrics
    (unless the env names its own METRICS_PORT, e.g. "0" to turn it off)."""

    env: dict[str, str]
    cwd: Path | None = None
    port: int = field(default_factory=free_port)
    metrics_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path = field(
        default_factory=lambda: Path(tempfile.mkstemp(prefix="halo-e2e-", suffix=".log")[1])
    )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def start(self, *, wait: bool = True, timeout: float = 60.0) -> RunningServer:
        if "METRICS_PORT" in self.env:
            self.metrics_port = int(self.env["METRICS_PORT"])
        env = {"METRICS_PORT": str(self.metrics_port), **self.env, "PORT": str(self.port)}
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [*HALO, "serve"],
                env=env,
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: kill() takes the workers too
            )
            _STARTED.append(self.process)
        if wait:
            try:
                self.wait_ready(timeout)
            except BaseException:
                self.kill()  # never leave a half-started server behind
                raise
        return self

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Ready means every worker answers ready: ask repeatedly over fresh connections."""
        deadline = time.monotonic() + timeout
        workers = int(self.env.get("WORKERS", "1"))
        streak = 0
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.logs()[-4000:]}")
            try:
                response = httpx.get(f"{self.url}/health/ready", timeout=2.0)
                streak = streak + 1 if response.status_code == 200 else 0
            except httpx.HTTPError:
                streak = 0
            if streak >= 4 * workers:
                return
            time.sleep(0.05)
        raise TimeoutError(f"server not ready after {timeout}s:\n{self.logs()[-4000:]}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.kill()
            self.process.wait()
        self.process = None

    def terminate(self, timeout: float = 30.0) -> int:
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        code = self.process.returncode
        self.process = None
        return code

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")


def serving(env: dict[str, str]) -> Iterator[RunningServer]:
    """A fixture's server: `halo serve` on `env` while the fixture lives (`yield from serving(env)`)."""
    server = RunningServer(env).start()
    try:
        yield server
    finally:
        server.terminate()


def serving_pair(env: dict[str, str]) -> Iterator[tuple[RunningServer, RunningServer]]:
    """Two servers on one `env` (two replicas of a deployment: one secret, one database, one Redis),
    started side by side, while the fixture lives."""
    first, second = RunningServer(dict(env)).start(wait=False), RunningServer(dict(env)).start(wait=False)
    try:
        first.wait_ready()
        second.wait_ready()
        yield first, second
    finally:
        first.terminate()
        second.terminate()
