"""Response headers keep Sanic's protection against response splitting with the faster check."""

from __future__ import annotations

import pytest
from sanic.response import json
from sanic.response.types import HEADER_TRANSLATION_TABLE

from halo.middleware import header_values


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
