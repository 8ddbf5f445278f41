"""DATABASE_REPLICA_URLS and REPLICA_MAX_LAG_SECONDS: validation, the connections they add, and
`halo config` keeping their passwords out of sight."""

from __future__ import annotations

import argparse

import pytest
from pydantic import ValidationError

from halo.cli import _check_config
from halo.config import Settings
from halo.db.clients import tortoise_config

PRIMARY = "postgres://halo:primary-pw@primary:5432/halo"
REPLICAS = "postgresql://reader:replica-pw@replica-0:5433/halo_ro, postgres://halo@replica-1/halo"


def settings(**fields: object) -> Settings:
    return Settings(env="development", database_url=PRIMARY, **fields)  # type: ignore[arg-type]


def test_each_replica_is_a_connection_like_the_primarys_at_its_own_address() -> None:
    config = tortoise_config(settings(database_replica_urls=REPLICAS, database_pooler="pgbouncer"))
    connections = config["connections"]
    assert list(connections) == ["default", "replica0", "replica1"]
    primary = connections["default"]["credentials"]
    first = connections["replica0"]["credentials"]
    assert (first["host"], first["port"], first["user"], first["password"], first["database"]) == (
        "replica-0",
        5433,
        "reader",
        "replica-pw",
        "halo_ro",
    )
    for key in ("maxsize", "minsize", "timeout", "command_timeout", "statement_cache_size", "reset"):
        assert first[key] == primary[key], key  # the pool, the bounds and the pooler setting
    assert connections["replica1"]["credentials"]["host"] == "replica-1"
    assert "ssl" not in first
    tls = tortoise_config(settings(database_replica_urls="postgres://halo@replica-2/halo?ssl=require"))
    assert tls["connections"]["replica0"]["credentials"]["ssl"] is True  # the replica's own options
    assert config["apps"]["halo"]["default_connection"] == "default"  # writes stay on the primary
    assert list(tortoise_config(settings())["connections"]) == ["default"]


def test_replica_urls_are_postgres_and_need_a_postgres_primary() -> None:
    assert settings(database_replica_urls="").database_replica_urls == []
    with pytest.raises(ValidationError, match="postgres"):
        settings(database_replica_urls="mysql://replica/halo")
    with pytest.raises(ValidationError, match="DATABASE_REPLICA_URLS needs a PostgreSQL"):
        Settings(env="development", database_url="sqlite://:memory:", database_replica_urls=REPLICAS)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        settings(replica_max_lag_seconds=0)


def test_halo_config_hides_the_replicas_passwords(capsys: pytest.CaptureFixture[str]) -> None:
    _check_config(settings(database_replica_urls=REPLICAS), argparse.Namespace())
    out = capsys.readouterr().out
    assert "replica-pw" not in out and "primary-pw" not in out
    assert "DATABASE_REPLICA_URLS=postgres://***@replica-0:5433/halo_ro,postgres://***@replica-1/halo" in out
