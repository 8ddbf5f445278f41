"""Videos: list, detail, create, change, delete."""

from __future__ import annotations

from typing import Any

from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse

from halo.api.operation import operation
from halo.api.schemas import (
    VideoCreate,
    VideoListQuery,
    VideoOut,
    VideoPage,
    VideoPatch,
)
from halo.http.responses import json_response, no_content
from halo.services.engagement import VideoView
from halo.services.videos import ListQuery, VideoService

blueprint = Blueprint("videos", url_prefix="/api/v1/videos")

DEGRADED = {"X-Engagement": "degraded"}
DEGRADED_DOC = {200: {"X-Engagement": "`degraded` when Redis is unreachable and engagement fields are null"}}


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
        "view_count": engagement.view_count if engagement else None,
        "like_count": engagement.like_count if engagement else None,
        "comment_count": engagement.comment_count if engagement else None,
        "live_viewers": engagement.live_viewers if engagement else None,
        "created_at": video.created_at,
        "updated_at": video.updated_at,
    }


def _video_response(view: VideoView, status: int = 200) -> HTTPResponse:
    return json_response(
        video_json(view), status=status, headers=DEGRADED if view.engagement is None else None
    )


@blueprint.get("")
@operation(
    "List videos",
    tag="videos",
    auth="optional",
    query=VideoListQuery,
    responses={200: VideoPage, 400: None, 401: None},
    response_headers=DEGRADED_DOC,
    description="Keyset-paginated: pass `next_cursor` back as `cursor` with the same sort and filters. "
    "Adult content appears only to its owner and to adults in adult mode.",
)
async def list_videos(request: Request, query: VideoListQuery) -> HTTPResponse:
    page = await _service(request).list_videos(
        request.ctx.principal,
        ListQuery(
            limit=query.limit,
            cursor=query.cursor,
            sort=query.sort,
            user_id=query.user_id,
            is_live=query.is_live,
            q=query.q,
        ),
    )
    body = {"items": [video_json(view) for view in page.items], "next_cursor": page.next_cursor}
    return json_response(body, headers=DEGRADED if page.degraded else None)


@blueprint.post("")
@operation(
    "Publish a video",
    tag="videos",
    auth="required",
    body=VideoCreate,
    responses={201: VideoOut, 400: None, 401: None, 403: None, 422: None},
)
async def create_video(request: Request, body: VideoCreate) -> HTTPResponse:
    view = await _service(request).create(request.ctx.principal, body.model_dump())
    return _video_response(view, status=201)


@blueprint.get("/<video_id:int>")
@operation(
    "A video with its engagement",
    tag="videos",
    auth="optional",
    responses={200: VideoOut, 401: None, 404: None},
    response_headers=DEGRADED_DOC,
)
async def get_video(request: Request, video_id: int) -> HTTPResponse:
    return _video_response(await _service(request).get(request.ctx.principal, video_id))


@blueprint.patch("/<video_id:int>")
@operation(
    "Change a video (owner only)",
    tag="videos",
    auth="required",
    body=VideoPatch,
    responses={200: VideoOut, 400: None, 401: None, 403: None, 404: None, 422: None},
    description="Only the named fields change; `null` clears `description` and `thumbnail_url`.",
)
async def update_video(request: Request, video_id: int, body: VideoPatch) -> HTTPResponse:
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    return _video_response(await _service(request).update(request.ctx.principal, video_id, changes))


@blueprint.delete("/<video_id:int>")
@operation(
    "Delete a video with its likes, comments and engagement (owner only)",
    tag="videos",
    auth="required",
    responses={204: None, 401: None, 403: None, 404: None},
)
async def delete_video(request: Request, video_id: int) -> HTTPResponse:
    await _service(request).delete(request.ctx.principal, video_id)
    return no_content()
