"""Several `halo serve` instances behind nginx, sharing one PostgreSQL database and one Redis.

`Fleet(env).start()` migrates once, starts the instances (one worker each
unless `env` says otherwise) and nginx in front of them. Tests talk to
`fleet.url` (nginx balances) or pin a request to one instance with
`fleet.pin(i)`; every response names the instance that answered, which
`fleet.served_by(response)` reads back. WebSocket upgrades pass through the
proxy too, so a later test can connect to `fleet.url` with the pin header of
instance B and act on instance A.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import httpx

from tests.support.nginx import PIN_HEADER, UPSTREAM_HEADER, Nginx
from tests.support.server import RunningServer, migrate

# Each test client gets a loopback source address of its own (all of 127/8 is
# loopback on Linux), so nginx and the instances see distinct client IPs and
# rate-limit buckets, as they would for clients on different machines.
_addresses = (f"127.{a}.{b}.{c}" for a, b, c in itertools.product(range(1, 255), range(256), range(1, 255)))


def client_address() -> str:
    return next(_addresses)


@dataclass
class Fleet:
    env: dict[str, str]
    size: int = 3
    instances: list[RunningServer] = field(default_factory=list)
    nginx: Nginx | None = None

    def start(self) -> Fleet:
        migrate(self.env)
        self.instances = [RunningServer(dict(self.env)) for _ in range(self.size)]
        try:
            for instance in self.instances:  # start together, then wait: start-up overlaps
                instance.start(wait=False)
            for instance in self.instances:
                instance.wait_ready()
            self.nginx = Nginx([instance.port for instance in self.instances]).start()
        except BaseException:
            self.stop()
            raise
        return self

    @property
    def url(self) -> str:
        assert self.nginx is not None
        return self.nginx.url

    def address(self, index: int) -> str:
        """The instance as nginx names it in the upstream header."""
        return f"127.0.0.1:{self.instances[index].port}"

    @staticmethod
    def pin(index: int) -> dict[str, str]:
        """Headers that make nginx send the request to instance `index` only."""
        return {PIN_HEADER: str(index)}

    def served_by(self, response: httpx.Response) -> int | None:
        """The index of the instance that answered (the last one nginx tried), None if none did."""
        tried = [hop.strip() for hop in response.headers.get(UPSTREAM_HEADER, "").split(",")]
        addresses = [self.address(i) for i in range(len(self.instances))]
        return addresses.index(tried[-1]) if tried and tried[-1] in addresses else None

    def client(
        self, *, source: str | None = None, connections: int = 20, keepalive: bool = True
    ) -> httpx.AsyncClient:
        """An HTTP client of nginx from a loopback address of its own."""
        transport = httpx.AsyncHTTPTransport(
            local_address=source or client_address(),
            limits=httpx.Limits(
                max_connections=connections, max_keepalive_connections=connections if keepalive else 0
            ),
        )
        return httpx.AsyncClient(base_url=self.url, transport=transport, timeout=30.0)

    def take_out_of_proxy(self, index: int) -> None:
        """What an orchestrator does before stopping an instance: nginx stops sending it requests."""
        assert self.nginx is not None
        self.nginx.balance([port for port in self.nginx.balanced if port != self.instances[index].port])

    def put_back_into_proxy(self) -> None:
        assert self.nginx is not None
        self.nginx.balance([instance.port for instance in self.instances])

    def restart(self, index: int) -> None:
        """Start a stopped instance again on its old port (nginx still lists it)."""
        self.instances[index].start()

    def logs(self) -> str:
        parts = [
            f"--- instance {i} ---\n{instance.logs()[-3000:]}" for i, instance in enumerate(self.instances)
        ]
        if self.nginx is not None:
            parts.append(f"--- nginx ---\n{self.nginx.error_log()[-3000:]}")
        return "\n".join(parts)

    def stop(self) -> None:
        if self.nginx is not None:
            self.nginx.destroy()
            self.nginx = None
        for instance in self.instances:
            instance.terminate()
