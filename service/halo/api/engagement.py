"""Engagement of a video: its counts, views, likes, comments and presence."""

from __future__ import annotations

from typing import Any

from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse
from sanic_ext import openapi

from halo.api import docs
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
from halo.api.validation import authenticated, json_body, optional_authentication, parse_query
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
@openapi.definition(
    operation="get_engagement",
    summary="Engagement counts of a video",
    tag="engagement",
    parameter=docs.path_id("video_id"),
    response=docs.responses({200: EngagementOut}, 401, 404, notes=DEGRADED_DOC),
)
@optional_authentication
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
@openapi.definition(
    operation="add_view",
    summary="Count a view",
    description="Counted in Redis at once and written to PostgreSQL in batches; 503 while Redis is down.",
    tag="engagement",
    parameter=docs.path_id("video_id"),
    response=docs.responses({202: ViewCountOut}, 401, 404, 503),
)
@optional_authentication
async def add_view(request: Request, video_id: int) -> HTTPResponse:
    view_count = await _service(request).add_view(request.ctx.principal, video_id)
    return json_response({"video_id": video_id, "view_count": view_count}, status=202)


@blueprint.put("/<video_id:int>/like")
@openapi.definition(
    operation="like_video",
    summary="Like a video (idempotent)",
    tag="engagement",
    parameter=docs.path_id("video_id"),
    response=docs.responses({200: LikeOut}, 401, 404),
)
@authenticated
async def like(request: Request, video_id: int) -> HTTPResponse:
    like_count = await _service(request).like(request.ctx.principal, video_id)
    return json_response({"video_id": video_id, "liked": True, "like_count": like_count})


@blueprint.delete("/<video_id:int>/like")
@openapi.definition(
    operation="unlike_video",
    summary="Take a like back (idempotent)",
    tag="engagement",
    parameter=docs.path_id("video_id"),
    response=docs.responses({200: LikeOut}, 401, 404),
)
@authenticated
async def unlike(request: Request, video_id: int) -> HTTPResponse:
    like_count = await _service(request).unlike(request.ctx.principal, video_id)
    return json_response({"video_id": video_id, "liked": False, "like_count": like_count})


@blueprint.get("/<video_id:int>/comments")
@openapi.definition(
    operation="list_comments",
    summary="Comments, newest first",
    tag="engagement",
    parameter=[docs.path_id("video_id"), *docs.query(CommentListQuery)],
    response=docs.responses({200: CommentPage}, 400, 401, 404),
)
@optional_authentication
async def list_comments(request: Request, video_id: int) -> HTTPResponse:
    query = parse_query(request, CommentListQuery)
    page = await _service(request).comments(
        request.ctx.principal, video_id, limit=query.limit, cursor=query.cursor
    )
    return json_response({"items": [_comment_json(c) for c in page.items], "next_cursor": page.next_cursor})


@blueprint.post("/<video_id:int>/comments")
@openapi.definition(
    operation="add_comment",
    summary="Comment on a video",
    tag="engagement",
    parameter=docs.path_id("video_id"),
    body=docs.body(CommentCreate),
    response=docs.responses({201: CommentOut}, 400, 401, 404, 422),
)
@authenticated
@json_body(CommentCreate)
async def add_comment(request: Request, video_id: int, body: CommentCreate) -> HTTPResponse:
    comment = await _service(request).add_comment(request.ctx.principal, video_id, body.body)
    return json_response(_comment_json(comment), status=201)


@blueprint.post("/<video_id:int>/presence")
@openapi.definition(
    operation="heartbeat",
    summary="Heartbeat: count the caller as a live viewer",
    description="Authenticated callers are counted as themselves; anonymous ones by `viewer_id`. "
    "A viewer stays live for PRESENCE_TTL_SECONDS after its last heartbeat.",
    tag="engagement",
    parameter=docs.path_id("video_id"),
    body=docs.body(PresenceBody, required=False),
    response=docs.responses({200: PresenceOut}, 400, 401, 404, 422, 503),
)
@optional_authentication
@json_body(PresenceBody, optional=True)
async def heartbeat(request: Request, video_id: int, body: PresenceBody | None = None) -> HTTPResponse:
    viewer_id = body.viewer_id if body is not None else None
    live = await _service(request).heartbeat(request.ctx.principal, video_id, viewer_id)
    return json_response({"video_id": video_id, "live_viewers": live})


@blueprint.delete("/<video_id:int>/presence", ignore_body=False)
@openapi.definition(
    operation="leave",
    summary="Leave: stop counting the caller as a live viewer",
    description="`viewer_id` in the JSON body or the query string when anonymous.",
    tag="engagement",
    parameter=[docs.path_id("video_id"), *docs.query(PresenceQuery)],
    body=docs.body(PresenceBody, required=False),
    response=docs.responses({200: PresenceOut}, 400, 401, 404, 422, 503),
)
@optional_authentication
@json_body(PresenceBody, optional=True)
async def leave(request: Request, video_id: int, body: PresenceBody | None = None) -> HTTPResponse:
    query = parse_query(request, PresenceQuery)
    viewer_id = body.viewer_id if body is not None and body.viewer_id else query.viewer_id
    live = await _service(request).leave(request.ctx.principal, video_id, viewer_id)
    return json_response({"video_id": video_id, "live_viewers": live})
