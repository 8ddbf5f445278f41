"""DATABASE_POOLER and DATABASE_MIGRATION_URL: what they change in the connections HALO opens."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from halo.config import Settings
from halo.db.clients import tortoise_config
from halo.db.database import MigrationRefused, migration_settings

POOLER_URL = "postgres://halo:secret@pgbouncer:6432/halo"
DIRECT_URL = "postgres://halo:direct-pw@postgresql:5432/halo"


def settings(**fields: object) -> Settings:
    return Settings(env="development", database_url=POOLER_URL, **fields)  # type: ignore[arg-type]


def test_behind_pgbouncer_asyncpgs_statement_cache_is_off() -> None:
    credentials = tortoise_config(settings(database_pooler="pgbouncer"))["connections"]["default"][
        "credentials"
    ]
    assert credentials["statement_cache_size"] == 0
    plain = tortoise_config(settings())["connections"]["default"]["credentials"]
    assert "statement_cache_size" not in plain  # asyncpg's default cache


def test_migrations_behind_a_pooler_need_a_direct_url() -> None:
    with pytest.raises(MigrationRefused, match="DATABASE_MIGRATION_URL"):
        migration_settings(settings(database_pooler="pgbouncer"))
    direct = migration_settings(
        settings(
            database_pooler="pgbouncer", database_migration_url=DIRECT_URL.replace("postgres:", "postgresql:")
        )
    )
    assert direct.database_url == DIRECT_URL
    assert direct.database_pooler == "none"  # a direct connection keeps asyncpg's cache
    assert migration_settings(settings()).database_url == POOLER_URL


def test_the_migration_url_is_a_secret_and_postgres_only() -> None:
    configured = settings(database_migration_url=DIRECT_URL)
    assert "direct-pw" not in repr(configured)
    with pytest.raises(ValidationError, match="postgres://"):
        settings(database_migration_url="mysql://x@y/z")
    with pytest.raises(ValidationError, match="PostgreSQL"):
        Settings(env="development", database_url="sqlite://:memory:", database_pooler="pgbouncer")
    assert settings(database_migration_url="  ").database_migration_url is None
