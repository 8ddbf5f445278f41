"""Engagement of a video: its counts, views, likes, comments and presence."""

from __future__ import annotations

from typing import Any

from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse

from halo.api.operation import operation
from halo.api.schemas import (
    CommentCreate,
    CommentListQuery,
    CommentOut,
    CommentPage,
    EngagementOut,
    LikeOut,
    PresenceBody,
    PresenceOut,
    PresenceQuery,
    ViewCountOut,
)
from halo.api.videos import DEGRADED, DEGRADED_DOC
from halo.http.responses import json_response
from halo.services.engagement import EngagementService

blueprint = Blueprint("engagement", url_prefix="/api/v1/videos")


def _service(request: Request) -> EngagementService:
    return request.app.ctx.services.engagement


def _comment_json(comment: Any) -> dict[str, Any]:
    return {
        "id": comment.id,
        "video_id": comment.video_id,
        "user_id": comment.user_id,
        "body": comment.body,
        "created_at": comment.created_at,
    }


@blueprint.get("/<video_id:int>/engagement")
@operation(
    "Engagement counts of a video",
    tag="engagement",
    auth="optional",
    responses={200: EngagementOut, 401: None, 404: None},
    response_headers=DEGRADED_DOC,
)
async def get_engagement(request: Request, video_id: int) -> HTTPResponse:
    view = await request.app.ctx.services.videos.get(request.ctx.principal, video_id)
    engagement = view.engagement
    body = {
        "video_id": video_id,
        "view_count": engagement.view_count if engagement else None,
        "like_count": engagement.like_count if engagement else None,
        "comment_count": engagement.comment_count if engagement else None,
        "live_viewers": engagement.live_viewers if engagement else None,
    }
    return json_response(body, headers=DEGRADED if engagement is None else None)


@blueprint.post("/<video_id:int>/views")
@operation(
    "Count a view",
    tag="engagement",
    auth="optional",
    responses={202: ViewCountOut, 401: None, 404: None, 503: None},
    description="Counted in Redis at once and written to PostgreSQL in batches; 503 while Redis is down.",
)
async def add_view(request: Request, video_id: int) -> HTTPResponse:
    view_count = await _service(request).add_view(request.ctx.principal, video_id)
    return json_response({"video_id": video_id, "view_count": view_count}, status=202)


@blueprint.put("/<video_id:int>/like")
@operation(
    "Like a video (idempotent)",
    tag="engagement",
    auth="required",
    responses={200: LikeOut, 401: None, 404: None},
)
async def like(request: Request, video_id: int) -> HTTPResponse:
    like_count = await _service(request).like(request.ctx.principal, video_id)
    return json_response({"video_id": video_id, "liked": True, "like_count": like_count})


@blueprint.delete("/<video_id:int>/like")
@operation(
    "Take a like back (idempotent)",
    tag="engagement",
    auth="required",
    responses={200: LikeOut, 401: None, 404: None},
)
async def unlike(request: Request, video_id: int) -> HTTPResponse:
    like_count = await _service(request).unlike(request.ctx.principal, video_id)
    return json_response({"video_id": video_id, "liked": False, "like_count": like_count})


@blueprint.get("/<video_id:int>/comments")
@operation(
    "Comments, newest first",
    tag="engagement",
    auth="optional",
    query=CommentListQuery,
    responses={200: CommentPage, 400: None, 401: None, 404: None},
)
async def list_comments(request: Request, video_id: int, query: CommentListQuery) -> HTTPResponse:
    page = await _service(request).comments(
        request.ctx.principal, video_id, limit=query.limit, cursor=query.cursor
    )
    return json_response({"items": [_comment_json(c) for c in page.items], "next_cursor": page.next_cursor})


@blueprint.post("/<video_id:int>/comments")
@operation(
    "Comment on a video",
    tag="engagement",
    auth="required",
    body=CommentCreate,
    responses={201: CommentOut, 400: None, 401: None, 404: None, 422: None},
)
async def add_comment(request: Request, video_id: int, body: CommentCreate) -> HTTPResponse:
    comment = await _service(request).add_comment(request.ctx.principal, video_id, body.body)
    return json_response(_comment_json(comment), status=201)


@blueprint.post("/<video_id:int>/presence")
@operation(
    "Heartbeat: count the caller as a live viewer",
    tag="engagement",
    auth="optional",
    body=PresenceBody,
    body_required=False,
    responses={200: PresenceOut, 400: None, 401: None, 404: None, 422: None, 503: None},
    description="Authenticated callers are counted as themselves; anonymous ones by `viewer_id`. "
    "A viewer stays live for PRESENCE_TTL_SECONDS after its last heartbeat.",
)
async def heartbeat(request: Request, video_id: int, body: PresenceBody | None = None) -> HTTPResponse:
    viewer_id = body.viewer_id if body is not None else None
    live = await _service(request).heartbeat(request.ctx.principal, video_id, viewer_id)
    return json_response({"video_id": video_id, "live_viewers": live})


@blueprint.delete("/<video_id:int>/presence", ignore_body=False)
@operation(
    "Leave: stop counting the caller as a live viewer",
    tag="engagement",
    auth="optional",
    body=PresenceBody,
    body_required=False,
    query=PresenceQuery,
    responses={200: PresenceOut, 400: None, 401: None, 404: None, 422: None, 503: None},
    description="`viewer_id` in the JSON body or the query string when anonymous.",
)
async def leave(
    request: Request, video_id: int, query: PresenceQuery, body: PresenceBody | None = None
) -> HTTPResponse:
    viewer_id = body.viewer_id if body is not None and body.viewer_id else query.viewer_id
    live = await _service(request).leave(request.ctx.principal, video_id, viewer_id)
    return json_response({"video_id": video_id, "live_viewers": live})
