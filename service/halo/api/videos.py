"""Videos: list, detail, create, change, delete."""

from __future__ import annotations

from typing import Any

from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse
from sanic_ext import openapi

from halo.api import docs, etags
from halo.api.idempotency import idempotent
from halo.api.schemas import (
    VideoCreate,
    VideoListQuery,
    VideoOut,
    VideoPage,
    VideoPatch,
)
from halo.api.validation import authenticated, json_body, optional_authentication, parse_query
from halo.http.conditional import conditional
from halo.http.links import page_headers
from halo.http.responses import json_response, no_content
from halo.services.engagement import VideoView
from halo.services.videos import ListQuery, VideoService

blueprint = Blueprint("videos", url_prefix="/api/v1/videos")

DEGRADED = {"X-Engagement": "degraded"}
DEGRADED_DOC = {200: "X-Engagement: `degraded` when Redis is unreachable and engagement fields are null"}


def _service(request: Request) -> VideoService:
    return request.app.ctx.services.videos


def video_json(view: VideoView) -> dict[str, Any]:
    video, engagement = view.video, view.engagement
    return {
        "id": video.id,
        "user_id": video.user_id,
        "title": video.title,
        "description": video.description,
        "thumbnail_url": video.thumbnail_url,
        "stream_url": video.stream_url,
        "is_live": video.is_live,
        "is_adult_content": video.is_adult_content,
        "comments_policy": video.comments_policy,
        "view_count": engagement.view_count if engagement else None,
        "like_count": engagement.like_count if engagement else None,
        "comment_count": engagement.comment_count if engagement else None,
        "live_viewers": engagement.live_viewers if engagement else None,
        "viewer": {"liked": view.liked} if view.liked is not None else None,
        "created_at": video.created_at,
        "updated_at": video.updated_at,
    }


def _video_response(view: VideoView, status: int = 200) -> HTTPResponse:
    return json_response(
        video_json(view), status=status, headers=DEGRADED if view.engagement is None else None
    )


@blueprint.get("")
@openapi.definition(
    operation="list_videos",
    summary="List videos",
    description="Keyset-paginated: pass `next_cursor` back as `cursor` with the same sort and filters. "
    "Adult content appears only to its owner and to adults in adult mode. `sort=-trending` orders by "
    "views counted in the last 24 hours (a ranking refreshed every TRENDING_REFRESH_SECONDS; a cursor "
    "stays on its ranking, 400 once that is gone). `ids` alone is a batch read: the videos in the "
    "order asked, those missing or hidden left out, `next_cursor` null.",
    tag="videos",
    parameter=[*docs.query(VideoListQuery), docs.if_none_match()],
    response=docs.responses({200: VideoPage, 304: None}, 400, 401, notes=DEGRADED_DOC),
)
@optional_authentication
async def list_videos(request: Request) -> HTTPResponse:
    query = parse_query(request, VideoListQuery)
    page = await _service(request).list_videos(
        request.ctx.principal,
        ListQuery(
            limit=query.limit,
            cursor=query.cursor,
            sort=query.sort,
            user_id=query.user_id,
            is_live=query.is_live,
            q=query.q,
            ids=query.ids,
            given=frozenset(query.model_fields_set),
        ),
    )
    headers = page_headers(request, page.next_cursor, DEGRADED if page.degraded else None)

    def respond() -> HTTPResponse:
        body = {"items": [video_json(view) for view in page.items], "next_cursor": page.next_cursor}
        return json_response(body, headers=headers)

    return conditional(request, etags.video_page(page.items, page.next_cursor), respond, headers)


@blueprint.post("")
@openapi.definition(
    operation="create_video",
    summary="Publish a video",
    tag="videos",
    parameter=docs.idempotency_key(),
    body=docs.body(VideoCreate),
    response=docs.responses({201: VideoOut}, 400, 401, 403, 409, 422, 503),
)
@authenticated
@json_body(VideoCreate)
@idempotent
async def create_video(request: Request, body: VideoCreate) -> HTTPResponse:
    view = await _service(request).create(request.ctx.principal, body.model_dump())
    return _video_response(view, status=201)


@blueprint.get("/<video_id:int>", ctx_lean_cors=True)  # hot: CORS without a hook of its own
@openapi.definition(
    operation="get_video",
    summary="A video with its engagement",
    tag="videos",
    parameter=[docs.path_id("video_id"), docs.if_none_match()],
    response=docs.responses({200: VideoOut, 304: None}, 401, 404, notes=DEGRADED_DOC),
)
@optional_authentication
async def get_video(request: Request, video_id: int) -> HTTPResponse:
    view = await _service(request).get(request.ctx.principal, video_id)
    degraded = DEGRADED if view.engagement is None else None
    return conditional(request, etags.video(view), lambda: _video_response(view), degraded)


@blueprint.patch("/<video_id:int>")
@openapi.definition(
    operation="update_video",
    summary="Change a video (owner only)",
    description="Only the named fields change; `null` clears `description` and `thumbnail_url`.",
    tag="videos",
    parameter=docs.path_id("video_id"),
    body=docs.body(VideoPatch),
    response=docs.responses({200: VideoOut}, 400, 401, 403, 404, 422),
)
@authenticated
@json_body(VideoPatch)
async def update_video(request: Request, video_id: int, body: VideoPatch) -> HTTPResponse:
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    return _video_response(await _service(request).update(request.ctx.principal, video_id, changes))


@blueprint.delete("/<video_id:int>")
@openapi.definition(
    operation="delete_video",
    summary="Delete a video with its likes, comments and engagement (owner only)",
    tag="videos",
    parameter=docs.path_id("video_id"),
    response=docs.responses({204: None}, 401, 403, 404),
)
@authenticated
async def delete_video(request: Request, video_id: int) -> HTTPResponse:
    await _service(request).delete(request.ctx.principal, video_id)
    return no_content()
