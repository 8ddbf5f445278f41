"""The fast path turns on only when asked and only on the library versions it was written for."""

from __future__ import annotations

import logging

import pytest
from sanic.response.types import BaseHTTPResponse

from halo.http import fastpath


@pytest.fixture
def not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fastpath, "_installed", None)
    # Sanic's own, whatever an earlier test installed; put back afterwards
    monkeypatch.setattr(BaseHTTPResponse, "processed_headers", fastpath.response_head.SANIC_PROCESSED_HEADERS)


@pytest.mark.usefixtures("not_installed")
def test_off_when_not_asked_for() -> None:
    before = BaseHTTPResponse.processed_headers
    assert fastpath.install(False) is None
    assert BaseHTTPResponse.processed_headers is before


@pytest.mark.usefixtures("not_installed")
def test_another_sanic_version_turns_it_off_with_one_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(fastpath.WRITTEN_FOR, "sanic", ("99.1.",))
    before = BaseHTTPResponse.processed_headers
    with caplog.at_level(logging.WARNING, logger="halo.fastpath"):
        assert fastpath.install(True) is None
    warnings = [r for r in caplog.records if r.name == "halo.fastpath"]
    assert len(warnings) == 1
    assert "sanic 99.1.*" in warnings[0].getMessage()
    assert BaseHTTPResponse.processed_headers is before  # Sanic left as it is


@pytest.mark.usefixtures("not_installed")
def test_the_installed_versions_are_the_ones_it_was_written_for() -> None:
    assert fastpath.unsupported_versions() == []
    installed = fastpath.install(True)
    assert installed is not None
    assert BaseHTTPResponse.processed_headers is not fastpath.response_head.SANIC_PROCESSED_HEADERS
    assert fastpath.install(True) is installed  # once per process
