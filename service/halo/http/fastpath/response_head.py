"""Response heads with Sanic's exact bytes, made as one block and encoded once.

Replaces Sanic's per-header sanitising and formatting (`BaseHTTPResponse.processed_headers`,
`sanic.http.http1.format_http1_response`): a head that holds only ASCII and exactly one CR and
LF per line is written as one block; any other is made Sanic's way. Measured in bench/RESULTS.md.
"""

from __future__ import annotations

from collections.abc import Iterator

import sanic.http.http1
from sanic.compat import Header
from sanic.headers import format_http1_response as sanic_format_http1_response
from sanic.helpers import has_message_body
from sanic.response.types import HEADER_TRANSLATION_TABLE, BaseHTTPResponse


def sanitize_header_value(value: str) -> str:
    """The value without CR, LF and NUL (response splitting), as Sanic's own check returns it."""
    if "\r" in value or "\n" in value or "\x00" in value:
        return value.translate(HEADER_TRANSLATION_TABLE)
    return value


# Sanic's own, before `install` replaces it (the tests compare the two).
SANIC_PROCESSED_HEADERS = BaseHTTPResponse.processed_headers
_STATUS_LINES = [sanic_format_http1_response(status, ())[:-2] for status in range(1000)]
# "Name: " for each header name seen: names are multidict's `istr`, which an f-string formats
# several times slower than a plain str (a third of the block's cost). Bounded: past the limit a
# name is formatted each time (names come from our code and Sanic, never from a request).
_PREFIXES: dict[str, str] = {}
_PREFIXES_MAX = 256


def _prefix(name: str) -> str:
    prefix = f"{name}: "
    if len(_PREFIXES) < _PREFIXES_MAX:
        _PREFIXES[name] = prefix
    return prefix


class PreparedHeaders:
    """A response's headers as Sanic's (name, value) byte pairs, and as one block when it can be."""

    __slots__ = ("_headers", "block")

    def __init__(self, headers: Header) -> None:
        self._headers = headers
        known = _PREFIXES.get
        lines = "".join([f"{known(name) or _prefix(name)}{value}\r\n" for name, value in headers.items()])
        count = len(headers)
        clean = lines.isascii() and lines.count("\r") == count and lines.count("\n") == count
        self.block = lines.encode("ascii") if clean and "\x00" not in lines else None

    def __iter__(self) -> Iterator[tuple[bytes, bytes]]:
        for name, value in self._headers.items():
            value = f"{value}"
            yield (
                sanitize_header_value(name).encode("ascii"),
                sanitize_header_value(value).encode(errors="surrogateescape"),
            )


def processed_headers(response: BaseHTTPResponse) -> PreparedHeaders:
    """Sanic's `BaseHTTPResponse.processed_headers`: the same pairs, and the block."""
    headers = response.headers
    if has_message_body(response.status):
        headers.setdefault("content-type", response.content_type)
    return PreparedHeaders(headers)


def format_http1_response(status: int, headers: object) -> bytes:
    """Sanic's `format_http1_response`, from the block when there is one."""
    if type(headers) is PreparedHeaders and headers.block is not None:
        return _STATUS_LINES[status] + headers.block + b"\r\n"
    return sanic_format_http1_response(status, headers)  # type: ignore[arg-type]


def install() -> None:
    """Use these for every Sanic response in this process (`halo.http.fastpath.install` calls it)."""
    BaseHTTPResponse._sanitize_header_value = staticmethod(sanitize_header_value)  # type: ignore[method-assign]
    BaseHTTPResponse.processed_headers = property(processed_headers)  # type: ignore[method-assign,assignment]
    sanic.http.http1.format_http1_response = format_http1_response  # type: ignore[attr-defined]
