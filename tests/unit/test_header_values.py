"""Response headers keep Sanic's protection against response splitting with the faster check."""

from __future__ import annotations

import pytest
from sanic.headers import format_http1_response as sanic_format_http1_response
from sanic.response import HTTPResponse, json
from sanic.response.types import HEADER_TRANSLATION_TABLE

from halo.http.fastpath import response_head as header_values


@pytest.mark.parametrize(
    "value",
    ["plain", "", "a\r\nSet-Cookie: evil=1", "nul\x00byte", "line\nfeed", "\r", "ünïcode ✓", "x" * 5000],
)
def test_same_result_as_sanics_translation(value: str) -> None:
    assert header_values.sanitize_header_value(value) == value.translate(HEADER_TRANSLATION_TABLE)


def test_installed_check_strips_control_characters_from_sent_headers() -> None:
    header_values.install()
    response = json({}, headers={"X-Injected": "ok\r\nSet-Cookie: a=b", "X\nName": "v\x00"})
    sent = dict(response.processed_headers)
    assert sent[b"X-Injected"] == b"okSet-Cookie: a=b"
    assert sent[b"XName"] == b"v"
    assert b"\r" not in b"".join(k + v for k, v in sent.items())


CASES = [
    (200, {"X-Request-ID": "abc", "RateLimit-Limit": 100, "RateLimit-Remaining": "99"}, "application/json"),
    (204, {"X-Request-ID": "abc"}, None),  # no body: no content-type added
    (200, {"Content-Type": "text/plain", "X-Title": "ünïcode ✓"}, "application/json"),  # kept, not doubled
    (200, {"X-Injected": "ok\r\nSet-Cookie: a=b", "X\nName": "v\x00", "Plain": "yes"}, "text/plain"),
    (200, {"X-Lone": "carriage\rreturn"}, "text/plain"),
    (304, {}, "application/json"),
    (404, {"Vary": "Origin", "content-length": 12}, "application/json"),
    (200, {"x-request-id": "abc", "ratelimit-limit": 100}, "application/json"),  # other spellings
]


def _pair(
    status: int, headers: dict[str, object], content_type: str | None
) -> tuple[HTTPResponse, HTTPResponse]:
    body = b"x" if status in (200, 404) else None
    return (
        HTTPResponse(body, status=status, headers=headers, content_type=content_type),
        HTTPResponse(body, status=status, headers=headers, content_type=content_type),
    )


@pytest.mark.parametrize(("status", "headers", "content_type"), CASES)
def test_processed_headers_are_sanics_own(
    status: int, headers: dict[str, object], content_type: str | None
) -> None:
    ours, sanics = _pair(status, headers, content_type)
    assert list(header_values.processed_headers(ours)) == list(
        header_values.SANIC_PROCESSED_HEADERS.fget(sanics)  # type: ignore[attr-defined]
    )


@pytest.mark.parametrize(("status", "headers", "content_type"), CASES)
def test_the_head_is_sanics_own_bytes(
    status: int, headers: dict[str, object], content_type: str | None
) -> None:
    ours, sanics = _pair(status, headers, content_type)
    head = header_values.format_http1_response(status, header_values.processed_headers(ours))
    assert head == sanic_format_http1_response(
        status,
        header_values.SANIC_PROCESSED_HEADERS.fget(sanics),  # type: ignore[attr-defined]
    )
    assert head.count(b"\r") == head.count(b"\n") == len(ours.headers) + 2  # no line was split


def test_a_clean_head_is_made_in_one_block_and_an_unclean_one_header_by_header() -> None:
    clean, _ = _pair(200, {"X-Request-ID": "abc"}, "application/json")
    unclean, _ = _pair(200, {"X-Injected": "ok\r\nSet-Cookie: a=b"}, "application/json")
    assert header_values.processed_headers(clean).block is not None
    assert header_values.processed_headers(unclean).block is None


def test_each_name_keeps_its_own_spelling_however_many_names_were_seen() -> None:
    names = [f"X-Name-{n}" for n in range(300)]  # more than the prefixes it keeps
    for spelling in (str.title, str.lower, str.upper):
        for name in names:
            ours, _ = _pair(200, {spelling(name): "v"}, "text/plain")
            head = header_values.format_http1_response(200, header_values.processed_headers(ours))
            assert f"\r\n{spelling(name)}: v\r\n".encode() in head
