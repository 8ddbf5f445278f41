"""The entity tag of each representation, from the values it is made of.

A video's metadata changes only with its `updated_at`; its counters and the
caller's own state (`viewer`) are named one by one; a degraded read (no
engagement) has a tag of its own. A video's tag is those parts themselves
(`W/"id.changed.views.likes.comments.live.liked"`, no hash: it is short, and
everything in it is in the body too); a page's is a hash of its videos' parts.
Comments and profiles are small records: their every field is part of the tag.
Visibility needs no part of its own: a caller who may not see a video gets a
404, and two callers who see it get the same body unless their `viewer` differs.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from halo.http.conditional import entity_tag, tag_of
from halo.services.engagement import VideoView

# The hot path (every detail read, every item of a page) spells its parts out: a repr of the
# row's datetime and of the Engagement dataclass, or a float timestamp's shortest repr, costs
# several times more. tests/unit/test_conditional.py checks that these are all a VideoView
# holds, so a new field of the caller's own state cannot be left out.
VIDEO_VIEW_FIELDS = ("video", "engagement", "liked")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _video_key(view: VideoView) -> str:
    video, counts = view.video, view.engagement
    changed = (video.updated_at - _EPOCH) // _MICROSECOND
    if counts is None:
        return f"{video.id}.{changed}.-.{view.liked}"
    return (
        f"{video.id}.{changed}.{counts.view_count}.{counts.like_count}."
        f"{counts.comment_count}.{counts.live_viewers}.{view.liked}"
    )


def video(view: VideoView) -> str:
    return f'W/"{_video_key(view)}"'


def video_page(views: Sequence[VideoView], next_cursor: str | None) -> str:
    return tag_of(f"videos:{next_cursor}:" + ";".join([_video_key(view) for view in views]))


def engagement(view: VideoView) -> str:
    return entity_tag("engagement", view.video.id, view.engagement)


def comment_page(comments: Sequence[Any], next_cursor: str | None) -> str:
    """Comments are dataclass rows: their repr names every field."""
    return entity_tag("comments", next_cursor, *comments)


def profile(user: Any) -> str:
    return entity_tag("profile", user)
