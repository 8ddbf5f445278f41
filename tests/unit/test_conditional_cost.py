"""A 304 costs what its 200 costs up to the body: every tagged GET route asks its services the same
things for a matching `If-None-Match` as without one (so no database or Redis call of its own),
and builds no body (no JSON encoding)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from sanic.compat import Header
from sanic.request import Request
from sanic.response import HTTPResponse

from halo.api import auth, comments, engagement, videos
from halo.http import responses
from halo.repositories.comments import CommentRow
from halo.repositories.videos import VideoRow
from halo.services.engagement import Engagement, VideoView

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
ROW = VideoRow(7, 2, "title", None, None, "https://cdn.example/v.m3u8", False, False, 5, 0, 1, 0, 3, NOW, NOW)
VIEW = VideoView(ROW, Engagement(5, 1, 0, 0), liked=True)
COMMENT = CommentRow(9, 7, 2, None, "hi", "published", 0, NOW, None)
PAGE_OF_VIDEOS = SimpleNamespace(items=[VIEW], next_cursor="next", degraded=False)
PAGE_OF_COMMENTS = SimpleNamespace(items=[COMMENT], next_cursor="next")
USER = SimpleNamespace(
    id=2,
    email="a@example.com",
    username="ada",
    display_name="Ada",
    bio=None,
    avatar_url=None,
    is_adult=False,
    adult_mode=False,
    created_at=NOW,
    updated_at=NOW,
)


class Service:
    """Answers every call with its canned value and writes the call down."""

    def __init__(self, name: str, calls: list[tuple[Any, ...]], answers: dict[str, Any]) -> None:
        self._name, self._calls, self._answers = name, calls, answers

    def __getattr__(self, method: str) -> Callable[..., Awaitable[Any]]:
        async def call(*args: Any, **kwargs: Any) -> Any:
            self._calls.append((self._name, method, args, tuple(sorted(kwargs.items()))))
            return self._answers[method]

        return call


Route = Callable[..., Awaitable[HTTPResponse]]
ROUTES: dict[str, tuple[Route, str, dict[str, Any]]] = {
    "detail": (videos.get_video, "/api/v1/videos/7", {"video_id": 7}),
    "list": (videos.list_videos, "/api/v1/videos?limit=1&sort=title", {}),
    "engagement": (engagement.get_engagement, "/api/v1/videos/7/engagement", {"video_id": 7}),
    "comments": (engagement.list_comments, "/api/v1/videos/7/comments?limit=1", {"video_id": 7}),
    "replies": (comments.list_replies, "/api/v1/comments/9/replies?limit=1", {"comment_id": 9}),
    "profile": (auth.profile, "/api/v1/auth/profile", {}),
}


async def _call(
    route: str, monkeypatch: pytest.MonkeyPatch, if_none_match: str | None
) -> tuple[HTTPResponse, list[tuple[Any, ...]], int]:
    handler, url, arguments = ROUTES[route]
    calls: list[tuple[Any, ...]] = []
    services = SimpleNamespace(
        videos=Service("videos", calls, {"get": VIEW, "list_videos": PAGE_OF_VIDEOS}),
        comments=Service("comments", calls, {"page": PAGE_OF_COMMENTS, "replies": PAGE_OF_COMMENTS}),
        auth=Service("auth", calls, {"profile": USER}),
    )
    encoded = []

    def counting_json_response(*args: Any, **kwargs: Any) -> HTTPResponse:
        encoded.append(args)
        return responses.json_response(*args, **kwargs)

    for module in (videos, engagement, comments, auth):
        monkeypatch.setattr(module, "json_response", counting_json_response)
    headers = Header({"if-none-match": if_none_match} if if_none_match else {})
    app = SimpleNamespace(ctx=SimpleNamespace(services=services))
    request = Request(url.encode(), headers, "1.1", "GET", None, app)  # type: ignore[arg-type]
    request.ctx.principal = SimpleNamespace(user_id=2)
    response = await handler(request, **arguments)
    return response, calls, len(encoded)


@pytest.mark.parametrize("route", sorted(ROUTES))
async def test_a_304_asks_the_services_what_the_200_asks_and_encodes_nothing(
    route: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    full, full_calls, full_encoded = await _call(route, monkeypatch, None)
    assert full.status == 200
    assert full_encoded == 1
    tag = full.headers["ETag"]
    not_modified, calls, encoded = await _call(route, monkeypatch, tag)
    assert not_modified.status == 304
    assert not_modified.body in (b"", None)
    assert not_modified.headers["ETag"] == tag
    assert calls == full_calls
    assert encoded == 0
    for name in ("Link", "X-Engagement"):  # the 304 says what the 200 says of the next page
        assert not_modified.headers.get(name) == full.headers.get(name), name
