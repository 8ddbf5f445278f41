"""PgBouncer as the tests' connection pooler: a child process with its own config, on a free port.

Never the system service (Debian's listens on 6432): it runs in the foreground from a
temporary directory, on a free loopback port, in transaction pooling mode, in front of
the PostgreSQL server the test run uses, and is stopped by its process id.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from tests.support.services import ServiceUnavailable, free_port, stop_process, wait_for_port

CANDIDATES = ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer")
INSTALL_HINT = (
    "Debian: apt-get install pgbouncer (the tests start their own; the system service may stay stopped)"
)


def pgbouncer_binary() -> str | None:
    found = shutil.which("pgbouncer")
    if found:
        return found
    return next((path for path in CANDIDATES if os.access(path, os.X_OK)), None)


@dataclass
class PgBouncer:
    """pgbouncer in transaction mode for one database of `server_url`'s PostgreSQL.

    `pool_size` is the number of server connections it opens to PostgreSQL (for the one
    user and database): a few, so that many clients' transactions hop between them."""

    server_url: str  # the PostgreSQL server's URL (any database: the host, port and user are taken)
    database: str
    pool_size: int = 3
    port: int = field(default_factory=free_port)
    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="halo-pgbouncer-")))
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The database through the pooler (the same name as on PostgreSQL)."""
        parts = urlsplit(self.server_url)
        user = parts.username or "postgres"
        return urlunsplit(parts._replace(netloc=f"{user}@127.0.0.1:{self.port}", path=f"/{self.database}"))

    @property
    def log_path(self) -> Path:
        return self.directory / "pgbouncer.log"

    def _config(self) -> str:
        parts = urlsplit(self.server_url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 5432
        user = parts.username or "postgres"
        password = f" password={parts.password}" if parts.password else ""
        return f"""
[databases]
{self.database} = host={host} port={port} dbname={self.database} user={user}{password}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir =
auth_type = trust
auth_file = {self.directory}/userlist.txt
pidfile = {self.directory}/pgbouncer.pid
logfile = {self.log_path}
pool_mode = transaction
default_pool_size = {self.pool_size}
min_pool_size = 0
reserve_pool_size = 0
max_client_conn = 500
max_db_connections = {self.pool_size}
server_reset_query =
server_check_delay = 0
ignore_startup_parameters = extra_float_digits
admin_users = {user}
"""

    def start(self) -> PgBouncer:
        binary = pgbouncer_binary()
        if binary is None:
            raise ServiceUnavailable(f"pgbouncer is not installed ({INSTALL_HINT})")
        user = urlsplit(self.server_url).username or "postgres"
        (self.directory / "userlist.txt").write_text(f'"{user}" ""\n')
        (self.directory / "pgbouncer.ini").write_text(self._config())
        command = [binary, str(self.directory / "pgbouncer.ini")]
        if os.geteuid() == 0:  # pgbouncer refuses to run as root: it drops to an ordinary user
            account = "postgres" if _has_user("postgres") else "nobody"
            shutil.chown(self.directory, account)
            for child in self.directory.iterdir():
                shutil.chown(child, account)
            command += ["-u", account]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        try:
            wait_for_port("127.0.0.1", self.port)
        except ServiceUnavailable:
            logs = self.logs()
            self.destroy()
            raise ServiceUnavailable(f"pgbouncer did not start:\n{logs[-2000:]}") from None
        return self

    def logs(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        stop_process(self.process)
        self.process = None

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


def running_pgbouncer(server_url: str, database_url: str, pool_size: int = 3) -> Iterator[PgBouncer]:
    """A fixture's body: pgbouncer in front of `database_url` (a database on `server_url`'s server),
    stopped and removed at the end. Without pgbouncer the test skips, and fails under CI=true."""
    import pytest

    database = urlsplit(database_url).path.lstrip("/")
    try:
        bouncer = PgBouncer(server_url, database, pool_size=pool_size).start()
    except ServiceUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    try:
        yield bouncer
    finally:
        bouncer.destroy()


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True
