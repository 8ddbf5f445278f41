"""Who counts as one viewer: the user when signed in, else the client-chosen viewer id."""

from __future__ import annotations

import pytest

from halo.services.engagement import viewer_key
from halo.services.errors import ValidationFailed
from tests.unit.services.fakes import principal, wired


@pytest.mark.parametrize("viewer_id", [None, "ok-viewer-1", "bad id!", "x" * 200])
def test_a_signed_in_viewer_is_the_user_whatever_viewer_id_says(viewer_id: str | None) -> None:
    assert viewer_key(principal(7), viewer_id) == "u:7"


@pytest.mark.parametrize("viewer_id", [None, "short", "bad id!", "x" * 65])
def test_an_anonymous_viewer_needs_a_well_formed_viewer_id(viewer_id: str | None) -> None:
    with pytest.raises(ValidationFailed):
        viewer_key(None, viewer_id)


async def test_one_viewer_heartbeating_twice_is_one_live_viewer() -> None:
    app = wired()
    video = app.video_rows.add(1)
    assert await app.engagement.heartbeat(None, video.id, "viewer-0001") == 1
    assert await app.engagement.heartbeat(None, video.id, "viewer-0001") == 1
    assert await app.engagement.heartbeat(principal(5), video.id, "viewer-0001") == 2
    assert await app.engagement.leave(None, video.id, "viewer-0001") == 1
