"""The entity tag of each representation, from the values it is made of.

A video's metadata changes only with its `updated_at`; its counters and the
caller's own state (`viewer`) are named one by one; a degraded read (no
engagement) has a tag of its own. Comments and profiles are small records:
their every field is part of the tag. Visibility needs no part of its own: a
caller who may not see a video gets a 404, and two callers who see it get the
same body unless their `viewer` differs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from operator import attrgetter
from typing import Any

from halo.http.conditional import entity_tag
from halo.services.engagement import VideoView

# Everything a VideoView holds beside its row (engagement, the caller's own state), whatever it grows.
_BESIDE_ROW = attrgetter(*[field.name for field in dataclasses.fields(VideoView) if field.name != "video"])


def _video_parts(view: VideoView) -> tuple[Any, ...]:
    video = view.video
    return (video.id, video.updated_at, _BESIDE_ROW(view))


def video(view: VideoView) -> str:
    return entity_tag("video", *_video_parts(view))


def video_page(views: Sequence[VideoView], next_cursor: str | None) -> str:
    return entity_tag("videos", next_cursor, *[_video_parts(view) for view in views])


def engagement(view: VideoView) -> str:
    return entity_tag("engagement", view.video.id, view.engagement)


def comment_page(comments: Sequence[Any], next_cursor: str | None) -> str:
    """Comments are dataclass rows: their repr names every field."""
    return entity_tag("comments", next_cursor, *comments)


def profile(user: Any) -> str:
    return entity_tag("profile", user)
