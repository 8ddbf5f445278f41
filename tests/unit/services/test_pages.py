"""Keyset pages: a walk never repeats or skips, and a cursor only works where it was made."""

from __future__ import annotations

import pytest

from halo.services.errors import BadInput
from halo.services.videos import ListQuery
from tests.unit.services.fakes import wired


@pytest.mark.parametrize("sort", ["-created_at", "created_at", "title", "-view_count"])
async def test_a_walk_through_every_page_sees_every_video_once(sort: str) -> None:
    app = wired()
    made = {app.video_rows.add(1, title=f"t{n % 3}", view_count=n % 4).id for n in range(23)}
    seen: list[int] = []
    cursor = None
    while True:
        page = await app.videos.list_videos(None, ListQuery(limit=5, sort=sort, cursor=cursor))  # type: ignore[arg-type]
        seen += [view.video.id for view in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert sorted(seen) == sorted(made)
    assert len(seen) == len(set(seen))


async def test_a_cursor_made_for_another_sort_or_filter_is_refused() -> None:
    app = wired()
    for _ in range(3):
        app.video_rows.add(1)
    page = await app.videos.list_videos(None, ListQuery(limit=1))
    assert page.next_cursor is not None
    with pytest.raises(BadInput):
        await app.videos.list_videos(None, ListQuery(limit=1, sort="title", cursor=page.next_cursor))
    with pytest.raises(BadInput):
        await app.videos.list_videos(None, ListQuery(limit=1, user_id=1, cursor=page.next_cursor))
    # `limit` may change between pages
    assert (await app.videos.list_videos(None, ListQuery(limit=2, cursor=page.next_cursor))).items


async def test_a_tampered_cursor_is_refused() -> None:
    app = wired()
    for _ in range(3):
        app.video_rows.add(1)
    cursor = (await app.videos.list_videos(None, ListQuery(limit=1))).next_cursor
    assert cursor is not None
    forged = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")
    with pytest.raises(BadInput):
        await app.videos.list_videos(None, ListQuery(limit=1, cursor=forged))


async def test_a_comments_cursor_belongs_to_its_video() -> None:
    app = wired()
    first, second = app.video_rows.add(1), app.video_rows.add(1)
    cursor = app.cursors.encode(["comments", first.id], ["2026-01-01T00:00:00+00:00", 1])
    with pytest.raises(BadInput):
        await app.comments.page(None, second.id, status="published", limit=10, cursor=cursor)
