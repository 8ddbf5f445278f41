"""Entity tags and If-None-Match (RFC 9110 weak comparison); the next page's Link."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from halo.api import etags
from halo.http.conditional import entity_tag, none_match
from halo.http.links import next_page_link
from halo.repositories.videos import VideoRow
from halo.services.engagement import Engagement, VideoView

TAG = entity_tag("video", 7, datetime(2026, 1, 2, tzinfo=UTC))
OPAQUE = TAG[2:]


def test_a_tag_is_weak_and_quoted() -> None:
    assert TAG.startswith('W/"')
    assert TAG.endswith('"')


def test_a_tag_is_the_same_in_every_process() -> None:
    code = (
        "from datetime import UTC, datetime; from halo.http.conditional import entity_tag; "
        "print(entity_tag('video', 7, datetime(2026, 1, 2, tzinfo=UTC)))"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert other.stdout.strip() == TAG


def test_any_part_changes_the_tag() -> None:
    assert entity_tag("video", 7, None) != entity_tag("video", 7, False)
    assert entity_tag("video", 7, True) != entity_tag("video", 7, False)
    assert entity_tag("video", 7) != entity_tag("video", 8)


@pytest.mark.parametrize(
    "header",
    [
        TAG,
        OPAQUE,  # weak comparison: W/ or not, the same opaque part matches
        "*",
        " * ",
        f'"other", {TAG}',
        f'W/"other",{OPAQUE}',
        f'"a,b", {TAG}',  # a comma inside a quoted tag is not a separator
    ],
)
def test_if_none_match_that_matches(header: str) -> None:
    assert none_match(header, TAG)


@pytest.mark.parametrize(
    "header",
    [None, "", '"other"', 'W/"other"', OPAQUE[1:-1], f'{OPAQUE[:-1]}x"', "**", f"garbage {TAG}"],
)
def test_if_none_match_that_does_not_match(header: str | None) -> None:
    assert not none_match(header, TAG)


def _request(path: str, query: list[tuple[str, str]]) -> SimpleNamespace:
    return SimpleNamespace(path=path, get_query_args=lambda keep_blank_values: query)


def test_the_next_link_keeps_the_other_parameters_and_replaces_the_cursor() -> None:
    request = _request(
        "/api/v1/videos", [("limit", "2"), ("cursor", "old"), ("q", "a b&c"), ("sort", "title")]
    )
    link = next_page_link(request, "NEW_-")  # type: ignore[arg-type]
    assert link == '</api/v1/videos?limit=2&cursor=NEW_-&q=a%20b%26c&sort=title>; rel="next"'


def test_the_next_link_adds_a_cursor_to_the_first_page() -> None:
    request = _request("/api/v1/videos/3/comments", [("limit", "1"), ("q", "")])
    link = next_page_link(request, "abc")  # type: ignore[arg-type]
    assert link == '</api/v1/videos/3/comments?limit=1&q=&cursor=abc>; rel="next"'


def test_a_video_tag_names_everything_a_video_view_holds() -> None:
    """A new field of VideoView (more of the caller's own state) must join the tag in api/etags.py."""
    assert tuple(field.name for field in dataclasses.fields(VideoView)) == etags.VIDEO_VIEW_FIELDS


def test_a_video_tag_follows_counters_change_time_and_the_callers_state() -> None:
    changed = datetime(2026, 1, 2, tzinfo=UTC)
    row = VideoRow(1, 2, "t", None, None, None, False, False, 5, 0, 1, 0, 3, changed, changed)
    view = VideoView(row, Engagement(5, 1, 0, 0), liked=None)
    tags = {
        etags.video(view),
        etags.video(VideoView(row, Engagement(5, 2, 0, 0), liked=None)),
        etags.video(VideoView(row, Engagement(5, 1, 0, 0), liked=False)),
        etags.video(VideoView(row, Engagement(5, 1, 0, 0), liked=True)),
        etags.video(VideoView(row, None, liked=None)),
        etags.video(
            VideoView(dataclasses.replace(row, updated_at=datetime(2026, 1, 3, tzinfo=UTC)), view.engagement)
        ),
    }
    assert len(tags) == 6
    assert etags.video(view) == etags.video(VideoView(row, Engagement(5, 1, 0, 0), liked=None))
