"""The access line from pieces made once: the part fixed by (method, route) is kept per pair,
each client address is escaped once, the duration is formatted from an integer. The same JSON as
`json_line` makes (tests/unit/test_access_log.py compares them)."""

from __future__ import annotations

import time

import orjson

from halo.http.routes import template_of
from halo.observability.logging import utc_timestamp

_heads: dict[tuple[str, str | None], tuple[str, str]] = {}  # (method, route) -> the line's fixed parts
_addresses: dict[str, str] = {}  # client address -> the same, quoted for JSON


def access_line(
    method: str,
    route_path: str | None,
    status: int,
    elapsed: float | None,
    client_ip: str | None,
    request_id: str,
    trace_id: str | None = None,
) -> str:
    """`route_path`: the matched route's path as Sanic keeps it, None when no route matched.
    `method` is one of the known methods; `request_id` and `trace_id` (hex) need no escaping."""
    key = (method, route_path)
    head = _heads.get(key)
    if head is None:
        head = _heads[key] = _head(method, template_of(route_path))
    address = "null" if client_ip is None else _address(client_ip)
    if elapsed is None:
        duration = "null"
    else:  # milliseconds with three decimals, from an int (float rounding and repr are slow)
        microseconds = int(elapsed * 1_000_000)
        duration = f"{microseconds // 1000}.{microseconds % 1000:03d}"
    return (
        f'{{"ts":"{utc_timestamp(time.time())}",{head[0]}{status}","http":{{{head[1]}{status},'
        f'"duration_ms":{duration},"client_ip":{address}}},"request_id":"{request_id}"'
        + ("}\n" if trace_id is None else f',"trace_id":"{trace_id}"}}\n')
    )


def _head(method: str, route: str) -> tuple[str, str]:
    """The parts of the line fixed by the method and the route, each value escaped."""
    message = orjson.dumps(f"{method} {route} ").decode()[:-1]  # open: the status follows
    return (
        f'"level":"info","logger":"halo.access","message":{message}',
        f'"method":{orjson.dumps(method).decode()},"route":{orjson.dumps(route).decode()},"status":',
    )


def _address(client_ip: str) -> str:
    """The address as a JSON string (kept for the clients seen most recently)."""
    quoted = _addresses.get(client_ip)
    if quoted is None:
        if len(_addresses) >= 4096:
            _addresses.clear()
        quoted = _addresses[client_ip] = orjson.dumps(client_ip).decode()
    return quoted
