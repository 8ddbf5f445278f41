"""Size limits of the request line and head: 414 and 431 rather than a generic 413."""

from __future__ import annotations

from sanic.exceptions import SanicException
from sanic.request import Request

MAX_REQUEST_LINE = 8 * 1024
MAX_HEAD = 16 * 1024  # Sanic's own ceiling for the whole head (request line and headers)


class UriTooLong(SanicException):
    status_code = 414
    quiet = True


class HeadersTooLarge(SanicException):
    status_code = 431
    quiet = True


def check_request_line(request: Request) -> None:
    if len(request.raw_url) > MAX_REQUEST_LINE:
        raise UriTooLong("request line over 8 KiB")


def classify_oversized_head(request: Request) -> SanicException:
    """Sanic refuses a head over its limit before parsing it; tell a long URL from many headers."""
    buffered = b""
    try:
        protocol = request.transport.get_protocol()
        buffered = bytes(protocol._http.recv_buffer[: MAX_REQUEST_LINE + 2])  # type: ignore[attr-defined]
    except AttributeError:
        pass
    end_of_line = buffered.find(b"\r\n")
    if end_of_line == -1 or end_of_line > MAX_REQUEST_LINE:
        return UriTooLong("request line over 8 KiB")
    return HeadersTooLarge("request headers over 16 KiB")
