"""The fast path turns on only when asked and only on the library versions it was written for."""

from __future__ import annotations

import logging

import pytest
from redis.asyncio.connection import AbstractConnection
from sanic.response.types import BaseHTTPResponse

from halo.http import fastpath


@pytest.fixture
def not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fastpath, "_installed", None)
    # Sanic's own, whatever an earlier test installed; put back afterwards
    monkeypatch.setattr(BaseHTTPResponse, "processed_headers", fastpath.response_head.SANIC_PROCESSED_HEADERS)
    monkeypatch.setattr(AbstractConnection, "pack_command", fastpath.redis_packing.REDIS_PACK_COMMAND)


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
    assert AbstractConnection.pack_command is fastpath.redis_packing.pack_command
    assert fastpath.install(True) is installed  # once per process


PACKED = [
    ("EVALSHA", "0" * 40, 3, "v:1", "v:2", "k:é", 1, -2, 10**30),
    ("SET", "key", b"\x00\xff\r\n", 1.5, 0.1, 1e20, float("inf"), 1e-7, ""),
    ("CONFIG GET", "maxmemory"),  # a command name with a literal argument in it
    (b"CLIENT SETNAME", b"halo"),
]


@pytest.mark.parametrize("args", PACKED)
def test_hiredis_packs_the_bytes_redis_py_does(args: tuple[object, ...]) -> None:
    from redis.asyncio.connection import Connection

    from halo.http.fastpath import redis_packing

    connection = Connection()
    ours = redis_packing.pack_command(connection, *args)
    assert len(ours) == 1  # one block, not redis-py's list of pieces
    assert ours[0] == b"".join(redis_packing.REDIS_PACK_COMMAND(connection, *args))


def test_what_hiredis_refuses_redis_py_packs_or_refuses_as_before() -> None:
    from redis.asyncio.connection import Connection
    from redis.exceptions import DataError

    from halo.http.fastpath import redis_packing

    connection = Connection()
    view = memoryview(b"value")
    assert b"".join(redis_packing.pack_command(connection, "SET", "k", view)) == b"".join(
        redis_packing.REDIS_PACK_COMMAND(connection, "SET", "k", view)
    )
    with pytest.raises(DataError):
        redis_packing.pack_command(connection, "SET", "k", True)
    latin = Connection(encoding="latin-1")  # not what hiredis encodes text with: redis-py's packer
    assert redis_packing.pack_command(latin, "SET", "k", "é") == redis_packing.REDIS_PACK_COMMAND(
        latin, "SET", "k", "é"
    )
