"""nginx as the tests' reverse proxy: a child process with its own config, pid, temp and log files.

Never the system service: it runs in the foreground (`daemon off`) from a
temporary prefix, on a free loopback port, and is stopped by its process id.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.services import ServiceUnavailable, free_port, stop_process, wait_for_port

# Requests may be pinned to one instance with this header (tests that need to say
# "issued by A, used on B"); without it nginx balances over all of them.
PIN_HEADER = "X-Test-Upstream"
PIN_VARIABLE = "$http_x_test_upstream"  # the header as nginx names it
# nginx names the instance that answered in this response header.
UPSTREAM_HEADER = "X-Upstream"


def _config(prefix: Path, port: int, upstreams: list[int], balanced: list[int]) -> str:
    servers = "\n".join(
        # one failure marks an instance down for 5 s: nginx then sends its share elsewhere
        f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;"
        for p in balanced
    )
    pinned = "\n".join(
        f"    upstream halo_{i} {{ server 127.0.0.1:{p}; keepalive 4; }}" for i, p in enumerate(upstreams)
    )
    pins = "\n".join(f'        "{i}" halo_{i};' for i in range(len(upstreams)))
    user = ""
    if os.geteuid() == 0:  # workers drop root; Debian has no "nobody" group, nginx's default
        user = f"user nobody {grp.getgrgid(pwd.getpwnam('nobody').pw_gid).gr_name};"
    return f"""
{user}
daemon off;
master_process on;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log info;
events {{ worker_connections 1024; }}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    server_tokens off;

    upstream halo {{
{servers}
        keepalive 32;
    }}
{pinned}
    map {PIN_VARIABLE} $halo_upstream {{
        default halo;
{pins}
    }}
    # WebSocket upgrades pass through; other requests keep upstream connections alive.
    map $http_upgrade $connection_upgrade {{
        default upgrade;
        "" "";
    }}

    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://$halo_upstream;
            proxy_http_version 1.1;
            proxy_set_header Host $host;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            # nginx is the edge: the client's own X-Forwarded-For is replaced, not trusted
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto $scheme;
            # Only idempotent requests (and any request not yet sent) go to the next
            # instance: nginx never retries a POST that an instance may have received.
            # (a 503 is the service speaking for a shared dependency: no reason to try another)
            proxy_next_upstream error timeout;
            proxy_next_upstream_tries 3;
            proxy_connect_timeout 2s;
            proxy_read_timeout 60s;
            add_header {UPSTREAM_HEADER} $upstream_addr always;
        }}
    }}
}}
"""


def find_nginx() -> str | None:
    """The nginx binary; /usr/sbin is not on every user's PATH."""
    return shutil.which("nginx") or next(
        (path for path in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(path, os.X_OK)), None
    )


@dataclass
class Nginx:
    """nginx in front of `upstreams` (loopback ports), listening on its own free port."""

    upstreams: list[int]
    port: int = field(default_factory=free_port)
    balanced: list[int] = field(default_factory=list)  # the ones nginx balances over (default: all)
    _command: list[str] = field(default_factory=list, repr=False)
    prefix: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="halo-nginx-")))
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Nginx:
        binary = find_nginx()
        if binary is None:
            raise ServiceUnavailable("nginx is not installed (Debian: apt-get install nginx)")
        self.prefix.chmod(0o755)  # the workers (not root) read their temp directories under it
        # -e: the error log before the config is read (the default is a system path)
        self._command = [
            *(binary, "-p", str(self.prefix), "-c", str(self.prefix / "nginx.conf")),
            *("-e", str(self.prefix / "error.log")),
        ]
        self._write_config(self.balanced or self.upstreams)
        self.process = subprocess.Popen(self._command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port("127.0.0.1", self.port)
        return self

    def _write_config(self, balanced: list[int]) -> None:
        self.balanced = list(balanced)
        (self.prefix / "nginx.conf").write_text(
            _config(self.prefix, self.port, self.upstreams, self.balanced)
        )
        check = subprocess.run([*self._command, "-t"], capture_output=True, text=True, timeout=30)
        if check.returncode != 0:
            raise RuntimeError(f"nginx refused its config:\n{check.stderr}")

    def _workers(self) -> set[int]:
        assert self.process is not None
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return {int(pid) for pid in children.read_text().split()}

    def balance(self, balanced: list[int], timeout: float = 30.0) -> None:
        """Balance over these upstreams from now on: reload, and wait until the old workers,
        which finish what they had in flight under the old configuration, have exited."""
        old = self._workers()
        self._write_config(balanced)
        assert self.process is not None
        self.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            workers = self._workers()
            if workers and not workers & old:
                return
            time.sleep(0.05)
        raise TimeoutError(f"nginx workers {old} still running {timeout}s after a reload")

    def stop(self) -> None:
        stop_process(self.process, signal.SIGQUIT)  # graceful: finish what is in flight
        self.process = None

    def error_log(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.prefix, ignore_errors=True)
