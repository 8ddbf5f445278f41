"""The fast path: every speed trick that reaches into a library's private parts, in one place.

- `response_head`: Sanic's response-head writing replaced (one block, encoded once);
- `histogram_batches`: request durations added to prometheus-client's histograms in batches
  (`_buckets`, `_sum`);
- `access_line`: the access line from pieces made once;
- `redis_packing`: redis-py's asyncio connection packs commands with hiredis's C packer;
- the `logging` module told not to gather caller, thread and process details for each record.

`install()` turns them on once per process when `FAST_PATH` is on and the installed Sanic,
prometheus-client and redis-py are the versions they were written for; on any other version it logs one
warning and the service runs the plain way. What each trick saves is in bench/RESULTS.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from halo.http.fastpath import access_line, histogram_batches, redis_packing, response_head

log = logging.getLogger("halo.fastpath")

BatchWriter = Callable[[Any, list[float]], None]  # (histogram child, bucket counts + sum)
# (method, route path, status, elapsed, client ip, request id) -> the access line
FastLine = Callable[[str, str | None, int, float | None, str | None, str, str | None], str]

# Distribution -> the version prefixes the tricks were written and tested for.
WRITTEN_FOR: dict[str, tuple[str, ...]] = {
    "sanic": ("25.12.",),
    "prometheus-client": ("0.2",),  # 0.20 to 0.29: `_buckets` per bucket and `_sum` since 0.4
    "redis": ("5.", "6.", "7.", "8."),  # `AbstractConnection.pack_command(*args) -> list[bytes]`
}


@dataclass(frozen=True)
class FastPath:
    """What the middleware takes from the fast path once it is installed."""

    batch_writer: BatchWriter
    access_line: FastLine


_installed: FastPath | None = None


def unsupported_versions() -> list[str]:
    """`name version` for each library whose installed version the tricks were not written for."""
    found = []
    for name, prefixes in WRITTEN_FOR.items():
        try:
            installed = version(name)
        except PackageNotFoundError:
            installed = "missing"
        if not installed.startswith(prefixes):
            found.append(f"{name} {installed}")
    return found


def install(enabled: bool) -> FastPath | None:
    """Turn the fast path on for this process (idempotent); None when it stays off."""
    global _installed
    if not enabled:
        return None
    if _installed is not None:
        return _installed
    unsupported = unsupported_versions()
    if unsupported:
        wanted = ", ".join(f"{name} {'/'.join(p + '*' for p in ps)}" for name, ps in WRITTEN_FOR.items())
        log.warning("fast path off: written for %s, found %s", wanted, ", ".join(unsupported))
        return None
    response_head.install()
    redis_packing.install()
    _skip_record_details()
    _installed = FastPath(histogram_batches.add_bucket_counts, access_line.access_line)
    return _installed


def _skip_record_details() -> None:
    # Nothing we log needs the caller's file and line, thread or process names.
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
