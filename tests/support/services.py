"""Real PostgreSQL and Redis for the tests.

Order of preference, for each: the `TEST_DATABASE_URL` / `TEST_REDIS_URL`
variable; the local server on its default port; a throwaway server started
from the installed binaries. Every test run gets its own database and its
own Redis key space (a database index it locks), so runs never see each
other's data, and nothing here ever stops a server it did not start.
"""

from __future__ import annotations

import contextlib
import glob
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

INSTALL_HINT = (
    "install them (Debian: apt-get install postgresql redis-server) "
    "or point TEST_DATABASE_URL / TEST_REDIS_URL at running servers"
)


class ServiceUnavailable(RuntimeError):
    pass


_HANDED_OUT: set[int] = set()


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port() -> int:
    """A loopback port nothing listens on, never one this test run handed out before.

    Chosen below the kernel's ephemeral range: a port from that range can be
    taken, between the choice and the server's bind, as the local end of any
    outgoing connection (a CI run once lost a METRICS_PORT that way), and the
    kernel may offer a just-closed one again (a server's PORT and METRICS_PORT
    once came out equal)."""
    low, _ = _ephemeral_range()
    top = max(low, 12000)
    candidates = list(range(10000, top))
    random.shuffle(candidates)
    for port in candidates:
        if port in _HANDED_OUT:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    raise ServiceUnavailable(f"no free loopback port between 10000 and {top}")


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def stop_process(
    process: subprocess.Popen[Any] | None, sig: int = signal.SIGTERM, timeout: float = 10.0
) -> None:
    """Ask a child process to stop with `sig`; kill it if it has not stopped after `timeout` seconds."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)


def wait_for_port(host: str, port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(host, port):
            return
        time.sleep(0.05)
    raise ServiceUnavailable(f"nothing listening on {host}:{port} after {timeout}s")


# --- PostgreSQL -------------------------------------------------------------


def _pg_binary(name: str) -> str | None:
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    return candidates[0] if candidates else shutil.which(name)


@dataclass
class ThrowawayPostgres:
    """A PostgreSQL cluster in a temporary directory; tests may stop and start it at will."""

    port: int = field(default_factory=free_port)
    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="halo-pg-")))
    max_connections: int = 200

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        command = list(args)
        if os.geteuid() == 0:  # initdb and pg_ctl refuse to run as root
            shutil.chown(self.directory, "postgres", "postgres")
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def init(self) -> ThrowawayPostgres:
        initdb = _pg_binary("initdb")
        if initdb is None:
            raise ServiceUnavailable("PostgreSQL binaries (initdb) are not installed; " + INSTALL_HINT)
        self.directory.chmod(0o755)
        self._run(initdb, "-D", str(self.directory / "data"), "-U", "postgres", "-A", "trust", "-E", "UTF8")
        return self

    def start(self) -> None:
        pg_ctl = _pg_binary("pg_ctl")
        assert pg_ctl is not None
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.directory} "
            f"-c max_connections={self.max_connections} -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off"
        )
        self._run(
            pg_ctl,
            "-D",
            str(self.directory / "data"),
            "-o",
            options,
            "-l",
            str(self.directory / "log"),
            "-w",
            "start",
        )
        wait_for_port("127.0.0.1", self.port)

    def stop(self, mode: str = "fast") -> None:
        pg_ctl = _pg_binary("pg_ctl")
        assert pg_ctl is not None
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run(pg_ctl, "-D", str(self.directory / "data"), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)


@dataclass
class ThrowawayReplica(ThrowawayPostgres):
    """A streaming replica of a throwaway primary (`pg_basebackup -R`), on its own port."""

    def clone(self, primary: ThrowawayPostgres) -> ThrowawayReplica:
        basebackup = _pg_binary("pg_basebackup")
        if basebackup is None:
            raise ServiceUnavailable("PostgreSQL binaries (pg_basebackup) are not installed; " + INSTALL_HINT)
        self.directory.chmod(0o755)
        self._run(
            basebackup,
            *("-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres"),
            *("-D", str(self.directory / "data"), "-R", "-X", "stream", "-c", "fast"),
        )
        return self


def postgres_server_url() -> tuple[str, ThrowawayPostgres | None]:
    """A PostgreSQL server the tests may create databases on (and the throwaway one, if started)."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url.replace("postgresql://", "postgres://", 1), None
    if port_open("127.0.0.1", 5432):
        return "postgres://postgres@127.0.0.1:5432/postgres", None
    server = ThrowawayPostgres().init()
    server.start()
    return server.url, server


def with_database(server_url: str, name: str) -> str:
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def db_value(database_url: str, sql: str, *args: object) -> object:
    """One value read straight from PostgreSQL (what the service stored, not what it answers)."""
    import asyncpg

    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


async def create_database(server_url: str) -> str:
    import asyncpg

    name = f"halo_test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(server_url, timeout=10)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return with_database(server_url, name)


async def drop_database(server_url: str, database_url: str) -> None:
    import asyncpg

    name = urlsplit(database_url).path.lstrip("/")
    conn = await asyncpg.connect(server_url, timeout=10)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def new_database(server_url: str) -> AsyncIterator[str]:
    """An empty database of its own on `server_url` for the block (its URL), dropped after it."""
    url = await create_database(server_url)
    try:
        yield url
    finally:
        await drop_database(server_url, url)


# --- Redis --------------------------------------------------------------------


@dataclass
class ThrowawayRedis:
    """A redis-server of our own on a free port; tests may kill and restart it."""

    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> ThrowawayRedis:
        binary = shutil.which("redis-server")
        if binary is None:
            raise ServiceUnavailable("redis-server is not installed; " + INSTALL_HINT)
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port("127.0.0.1", self.port)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


@dataclass
class ThrowawayRedisCluster:
    """A Redis Cluster of three masters (no replicas) on loopback ports, each node in its own directory."""

    masters: int = 3
    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="halo-redis-cluster-")))
    ports: list[int] = field(default_factory=list)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        """One node's address: the cluster client learns the others from it."""
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    def start(self) -> ThrowawayRedisCluster:
        server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
        if server is None or cli is None:
            raise ServiceUnavailable("redis-server and redis-cli are not installed; " + INSTALL_HINT)
        ports: set[int] = set()
        while len(ports) < 2 * self.masters:  # a client port and a cluster-bus port per node
            ports.add(free_port())
        ordered = sorted(ports)
        self.ports, buses = ordered[: self.masters], ordered[self.masters :]
        try:
            for port, bus in zip(self.ports, buses, strict=True):
                node = self.directory / str(port)
                node.mkdir()
                self.processes.append(
                    subprocess.Popen(
                        [
                            server,
                            *("--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes"),
                            *("--cluster-port", str(bus), "--cluster-config-file", str(node / "nodes.conf")),
                            *("--cluster-node-timeout", "5000", "--dir", str(node)),
                            *("--save", "", "--appendonly", "no", "--logfile", str(node / "redis.log")),
                        ],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )
            for port in self.ports:
                wait_for_port("127.0.0.1", port)
            nodes = [f"127.0.0.1:{port}" for port in self.ports]
            subprocess.run(
                [cli, "--cluster", "create", *nodes, "--cluster-replicas", "0", "--cluster-yes"],
                check=True,
                capture_output=True,
                timeout=60,
            )
            self._wait_until_every_node_agrees(timeout=30.0)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_until_every_node_agrees(self, timeout: float) -> None:
        import redis

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = []
            for port in self.ports:
                with redis.Redis(host="127.0.0.1", port=port, socket_timeout=2) as client:
                    info = client.cluster("info")  # parsed into a dict by redis-py
                    states.append(
                        info.get("cluster_state") == "ok"
                        and info.get("cluster_known_nodes") == str(self.masters)
                    )
            if all(states):
                return
            time.sleep(0.1)
        raise ServiceUnavailable(f"the Redis Cluster on {self.ports} did not reach cluster_state:ok")

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)
        self.processes = []
        shutil.rmtree(self.directory, ignore_errors=True)


LOCK_KEY = "halo-test:lock"


def redis_base_url() -> tuple[str | None, ThrowawayRedis | None]:
    """A Redis URL without a database index, or a throwaway server when none is running."""
    url = os.environ.get("TEST_REDIS_URL")
    if url:
        parts = urlsplit(url)
        return urlunsplit(parts._replace(path="")), None
    if port_open("127.0.0.1", 6379):
        return "redis://127.0.0.1:6379", None
    server = ThrowawayRedis().start()
    return urlunsplit(urlsplit(server.url)._replace(path="")), server


def unavailable(message: str) -> None:
    """Stop the run: under CI a missing service is a failure, never a skip."""
    import pytest

    pytest.exit(f"test services unavailable: {message}", returncode=3)


def redis_database(owner: str) -> Iterator[str]:
    """A session fixture's body: a Redis database index of `owner`'s own, emptied before and after,
    on the local server (or a throwaway one when none runs)."""
    try:
        base, throwaway = redis_base_url()
    except (ServiceUnavailable, OSError) as exc:
        unavailable(str(exc))
        raise
    assert base is not None
    url = claim_redis_database(base, owner)
    yield url
    release_redis_database(url, owner)
    if throwaway is not None:
        throwaway.stop()


def claim_redis_database(base_url: str, owner: str) -> str:
    """Lock a free database index (1..15) for this run and empty it; index 0 is left to people."""
    import redis

    for index in range(1, 16):
        client = redis.Redis.from_url(f"{base_url}/{index}")
        try:
            if client.set(LOCK_KEY, owner, nx=True, ex=6 * 3600):
                client.flushdb()
                client.set(LOCK_KEY, owner, ex=6 * 3600)
                return f"{base_url}/{index}"
        finally:
            client.close()
    raise ServiceUnavailable("every Redis database index 1..15 is locked by another test run")


def release_redis_database(url: str, owner: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        if client.get(LOCK_KEY) == owner.encode():
            client.flushdb()
    finally:
        client.close()


def require_tool(name: str, hint: str) -> str:
    """The path of a tool a test needs; skip without it, but fail under CI (which installs it)."""
    import pytest

    path = shutil.which(name)
    if path is None:
        reason = f"{name} is not installed ({hint})"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path
