"""The visibility rule, checked before anything else on a video and every sub-resource: adult
content exists only for its owner and for adults in adult mode; to anybody else it is a 404."""

from __future__ import annotations

from halo.repositories.videos import VideoRow, Visibility
from halo.services.auth import Principal
from halo.services.errors import NotFound

MAX_ID = 2**63 - 1


def can_see(video: VideoRow, viewer: Principal | None) -> bool:
    if not video.is_adult_content:
        return True
    return viewer is not None and (viewer.user_id == video.user_id or viewer.sees_adult_content)


def visibility_of(viewer: Principal | None) -> Visibility:
    """The rule as a repository filter, for list pages."""
    if viewer is None:
        return Visibility(None, False)
    return Visibility(viewer.user_id, viewer.sees_adult_content)


def not_found() -> NotFound:
    return NotFound("no such video")


def valid_id(video_id: int) -> int:
    """Ids outside PostgreSQL's bigint are no video (a 404, not a database error)."""
    if not 0 < video_id <= MAX_ID:
        raise not_found()
    return video_id
