"""Video rows read from PostgreSQL by position (asyncpg records) equal the rows read by name."""

from __future__ import annotations

import dataclasses
from datetime import UTC
from pathlib import Path

import pytest

from halo.config import Settings
from halo.db import database
from halo.repositories.sql import Sql
from halo.repositories.videos import COLUMNS, ListFilters, VideoRepository, VideoRow, Visibility, _row
from tests.integration.conftest import new_user, unique

pytestmark = pytest.mark.usefixtures("orm")


def test_the_selected_columns_are_in_the_rows_field_order() -> None:
    assert COLUMNS.split(", ") == [field.name for field in dataclasses.fields(VideoRow)]


async def test_rows_by_position_equal_rows_by_name() -> None:
    owner = await new_user(is_adult=True)
    repo = VideoRepository()
    made = [
        await repo.create(
            owner.id,
            {
                "title": unique("v"),
                "description": None if n % 2 else "about",
                "stream_url": "https://cdn.example.com/s.m3u8",
                "is_live": n % 2 == 0,
                "is_adult_content": n == 1,
            },
        )
        for n in range(3)
    ]
    for video in made:
        by_name = _row(await Sql().fetchrow(f"SELECT {COLUMNS} FROM videos WHERE id = $1", video.id))  # type: ignore[arg-type]
        by_position = await repo.get(video.id)
        assert by_position == by_name == video
        assert by_position is not None and by_position.created_at.tzinfo is not None
        assert by_position.created_at.utcoffset() == UTC.utcoffset(None)
        assert type(by_position.is_live) is bool and type(by_position.view_count) is int

    page = await repo.page(
        visibility=Visibility(viewer_id=owner.id, sees_all_adult=False),
        filters=ListFilters(user_id=owner.id),
        sort="-created_at",
        after=None,
        limit=10,
    )
    assert page == sorted(made, key=lambda v: (v.created_at, v.id), reverse=True)


async def test_rows_on_sqlite_read_by_name(tmp_path: Path) -> None:
    settings = Settings(env="development", database_url=f"sqlite://{tmp_path}/halo.db", bcrypt_rounds=4)
    await database.close_orm()  # this test's own database instead of the run's
    await database.migrate(settings, report=lambda _: None)
    await database.open_orm(settings)
    owner = await new_user()
    repo = VideoRepository()
    made = [await repo.create(owner.id, {"title": unique("v"), "is_live": n == 0}) for n in range(3)]
    fetched = await repo.get(made[0].id)
    assert fetched == made[0]
    assert fetched is not None and fetched.is_live is True and fetched.created_at.tzinfo is not None
    assert await repo.get(10**12) is None
    page = await repo.page(
        visibility=Visibility(viewer_id=None, sees_all_adult=False),
        filters=ListFilters(user_id=owner.id),
        sort="-created_at",
        after=None,
        limit=10,
    )
    assert page == sorted(made, key=lambda v: (v.created_at, v.id), reverse=True)
