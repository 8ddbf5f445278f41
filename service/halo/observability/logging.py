"""Structured logs: JSON lines (default outside development) or readable text.

Every record logged while a request is being served carries its request id
(and, with tracing on, its trace id) through a context variable.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import logging
import sys
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import orjson

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
trace_id_var: ContextVar[str | None] = ContextVar("trace_id", default=None)

_RESERVED = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id_var.get()
        if getattr(record, "trace_id", None) is None:
            record.trace_id = trace_id_var.get()
        return True


_second: tuple[int, str] = (-1, "")
_MILLISECONDS = tuple(f".{ms:03d}Z" for ms in range(1000))


def utc_timestamp(created: float) -> str:
    """RFC 3339 UTC with milliseconds; the seconds part is formatted once a second."""
    global _second
    whole = int(created)
    if _second[0] != whole:
        _second = (whole, datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S"))
    return _second[1] + _MILLISECONDS[int((created - whole) * 1000)]


def json_line(created: float, level: str, logger: str, message: str, fields: dict[str, Any]) -> str:
    """The one JSON log line (no newline): time, level, logger, message, then the fields that are set."""
    entry: dict[str, object] = {
        "ts": utc_timestamp(created),
        "level": level,
        "logger": logger,
        "message": message,
    }
    for key, value in fields.items():
        if value is not None:
            entry.setdefault(key, value)
    return orjson.dumps(entry, default=str).decode()


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = {
            key: value
            for key, value in record.__dict__.items()
            if key not in _RESERVED and not key.startswith("_")
        }
        if record.exc_info:
            fields["stack"] = self.formatException(record.exc_info)
        return json_line(record.created, record.levelname.lower(), record.name, record.getMessage(), fields)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s%(context)s")

    def format(self, record: logging.LogRecord) -> str:
        parts = []
        request_id = getattr(record, "request_id", None)
        if request_id:
            parts.append(f"request_id={request_id}")
        trace_id = getattr(record, "trace_id", None)
        if trace_id:
            parts.append(f"trace_id={trace_id}")
        http = getattr(record, "http", None)
        if isinstance(http, dict):
            if http.get("duration_ms") is not None:
                parts.append(f"{http['duration_ms']}ms")
            if http.get("client_ip"):
                parts.append(f"client={http['client_ip']}")
        record.context = (" " + " ".join(parts)) if parts else ""
        return super().format(record)


class BufferedStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Collects lines in memory and writes them every `interval` seconds (at once for warnings and
    worse, and at exit): no write system call per line on the request path, where stdout is often
    unbuffered (PYTHONUNBUFFERED in containers)."""

    def __init__(self, stream: Any, interval: float = 0.2, max_pending: int = 512) -> None:
        super().__init__(stream)
        self._pending: collections.deque[str] = collections.deque()  # append and popleft are atomic
        self._max_pending = max_pending
        self._write_lock = threading.Lock()
        self._flusher = threading.Thread(
            target=self._flush_every, args=(interval,), daemon=True, name="log-flush"
        )
        self._flusher.start()
        atexit.register(self._quiet_flush)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.add_line(self.format(record) + self.terminator)
            if record.levelno >= logging.WARNING:
                self.flush()
        except Exception:
            self.handleError(record)

    def add_line(self, line: str) -> None:
        self._pending.append(line)
        if len(self._pending) >= self._max_pending:
            self.flush()

    def flush(self) -> None:
        # Only our own lock, never the handler's: `logging` calls emit() (which may flush) with the
        # handler's lock held, so taking it here, in the flusher thread, would deadlock the two.
        with self._write_lock:
            lines = []
            take = self._pending.popleft
            with contextlib.suppress(IndexError):
                while True:
                    lines.append(take())
            if lines:
                self.stream.write("".join(lines))
            if hasattr(self.stream, "flush"):
                self.stream.flush()

    def _flush_every(self, interval: float) -> None:
        while True:
            time.sleep(interval)
            self._quiet_flush()

    def _quiet_flush(self) -> None:
        with contextlib.suppress(ValueError, OSError):  # the stream may be closed at exit
            self.flush()


_LEVEL_NAMES = {level: logging.getLevelName(level).lower() for level in (10, 20, 30, 40, 50)}


def json_sink(logger: logging.Logger) -> Callable[[str], None] | None:
    """Where a finished JSON line for `logger` may go as it is: the `add_line` of our own JSON
    handler when the logger ends there and nowhere else; None when lines must go through `logging`
    (text format, other handlers, filters)."""
    handlers = logging.root.handlers
    if (
        len(handlers) == 1
        and type(handlers[0]) is BufferedStreamHandler
        and type(handlers[0].formatter) is JsonFormatter
        and not logger.handlers
        and logger.propagate
        and not logger.filters
    ):
        return handlers[0].add_line  # type: ignore[attr-defined]
    return None


def write_json_line(logger: logging.Logger, level: int, message: str, fields: dict[str, Any]) -> None:
    """Log one JSON line, straight to the stream when `json_sink` allows: the same line
    `JsonFormatter` makes, without building a LogRecord. Otherwise through `logging`."""
    if not logger.isEnabledFor(level):
        return
    sink = json_sink(logger)
    if sink is None:
        logger.log(level, message, extra=fields)
        return
    if fields.get("request_id") is None:
        fields = {**fields, "request_id": request_id_var.get()}
    if "trace_id" not in fields:
        fields = {**fields, "trace_id": trace_id_var.get()}
    level_name = _LEVEL_NAMES.get(level) or logging.getLevelName(level).lower()
    sink(json_line(time.time(), level_name, logger.name, message, fields) + "\n")


def configure_logging(level: str, fmt: str) -> None:
    root = logging.getLogger()
    existing = [h for h in root.handlers if isinstance(h, BufferedStreamHandler) and h.stream is sys.stdout]
    handler = existing[0] if existing else BufferedStreamHandler(sys.stdout)  # one flusher thread a process
    handler.filters.clear()
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(ContextFilter())
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("sanic.root", "sanic.error", "sanic.server", "sanic.websockets"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    logging.getLogger("sanic.access").disabled = True  # our own access line replaces it
    logging.getLogger("tortoise").setLevel(max(logging.INFO, logging.getLevelName(level)))
