"""The visibility rule comes first, then ownership: on the video and on every sub-resource."""

from __future__ import annotations

import pytest

from halo.services.errors import Forbidden, NotFound
from halo.services.videos import ListQuery
from tests.unit.services.fakes import principal, wired

OWNER = principal(1, adult=True)
ADULT_IN_ADULT_MODE = principal(2, adult=True, adult_mode=True)
ADULT_NOT_IN_ADULT_MODE = principal(3, adult=True)
MINOR = principal(4)


@pytest.mark.parametrize(
    "viewer", [None, MINOR, ADULT_NOT_IN_ADULT_MODE], ids=["anonymous", "minor", "adult"]
)
async def test_adult_content_is_a_404_to_everybody_but_its_owner_and_adults_in_adult_mode(viewer) -> None:  # type: ignore[no-untyped-def]
    app = wired()
    video = app.video_rows.add(OWNER.user_id, is_adult_content=True)
    with pytest.raises(NotFound):
        await app.videos.get(viewer, video.id)
    for sub_resource in (app.engagement.like, app.engagement.unlike):
        if viewer is not None:
            with pytest.raises(NotFound):
                await sub_resource(viewer, video.id)
    with pytest.raises(NotFound):
        await app.comments.page(viewer, video.id, status="published", limit=10, cursor=None)
    page = await app.videos.list_videos(viewer, ListQuery())
    assert page.items == []


@pytest.mark.parametrize("viewer", [OWNER, ADULT_IN_ADULT_MODE], ids=["owner", "adult-in-adult-mode"])
async def test_adult_content_is_seen_by_its_owner_and_adults_in_adult_mode(viewer) -> None:  # type: ignore[no-untyped-def]
    app = wired()
    video = app.video_rows.add(OWNER.user_id, is_adult_content=True)
    assert (await app.videos.get(viewer, video.id)).video.id == video.id
    page = await app.videos.list_videos(viewer, ListQuery())
    assert [view.video.id for view in page.items] == [video.id]


async def test_visibility_is_checked_before_ownership() -> None:
    app = wired()
    video = app.video_rows.add(OWNER.user_id, is_adult_content=True)
    with pytest.raises(NotFound):  # not Forbidden: the video does not exist for this caller
        await app.videos.update(MINOR, video.id, {"title": "mine now"})
    with pytest.raises(NotFound):
        await app.videos.delete(MINOR, video.id)


async def test_only_the_owner_changes_or_deletes_a_video() -> None:
    app = wired()
    video = app.video_rows.add(OWNER.user_id)
    with pytest.raises(Forbidden):
        await app.videos.update(MINOR, video.id, {"title": "mine now"})
    with pytest.raises(Forbidden):
        await app.videos.delete(MINOR, video.id)
    assert (await app.videos.update(OWNER, video.id, {"title": "renamed"})).video.title == "renamed"
    await app.videos.delete(OWNER, video.id)
    with pytest.raises(NotFound):
        await app.videos.get(OWNER, video.id)


async def test_only_adults_publish_or_mark_adult_content() -> None:
    app = wired()
    with pytest.raises(Forbidden):
        await app.videos.create(MINOR, {"title": "x", "is_adult_content": True})
    video = await app.videos.create(MINOR, {"title": "x"})
    with pytest.raises(Forbidden):
        await app.videos.update(MINOR, video.video.id, {"is_adult_content": True})


@pytest.mark.parametrize("video_id", [0, -1, 2**63])
async def test_ids_outside_bigint_are_no_video(video_id: int) -> None:
    app = wired()
    with pytest.raises(NotFound):
        await app.videos.get(None, video_id)
    assert app.video_rows.gets == 0  # refused before any read
