"""Engagement of a video: its counts, views, likes, comments and presence."""

from __future__ import annotations

from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse
from sanic_ext import openapi

from halo.api import docs, etags
from halo.api.comments import comment_json
from halo.api.idempotency import idempotent
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
    ViewBody,
    ViewCountOut,
)
from halo.api.validation import authenticated, json_body, optional_authentication, parse_query
from halo.api.videos import DEGRADED, DEGRADED_DOC
from halo.http.conditional import conditional
from halo.http.links import page_headers
from halo.http.responses import json_response
from halo.services.engagement import EngagementService

blueprint = Blueprint("engagement", url_prefix="/api/v1/videos")


def _service(request: Request) -> EngagementService:
    return request.app.ctx.services.engagement


@blueprint.get("/<video_id:int>/engagement")
@openapi.definition(
    operation="get_engagement",
    summary="Engagement counts of a video",
    tag="engagement",
    parameter=[docs.path_id("video_id"), docs.if_none_match()],
    response=docs.responses({200: EngagementOut, 304: None}, 401, 404, notes=DEGRADED_DOC),
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
    degraded = DEGRADED if engagement is None else None
    tag = etags.engagement(view)
    return conditional(request, tag, lambda: json_response(body, headers=degraded), degraded)


@blueprint.post("/<video_id:int>/views")
@openapi.definition(
    operation="add_view",
    summary="Count a view",
    description="One view counts per viewer and video per VIEW_WINDOW_SECONDS (the user when "
    "authenticated, else `viewer_id`, else the client IP); a repeat answers `counted: false`. Counted in "
    "Redis at once and written to PostgreSQL in batches; 503 while Redis is down.",
    tag="engagement",
    parameter=docs.path_id("video_id"),
    body=docs.body(ViewBody, required=False),
    response=docs.responses({202: ViewCountOut}, 400, 401, 404, 422, 503),
)
@optional_authentication
@json_body(ViewBody, optional=True)
async def add_view(request: Request, video_id: int, body: ViewBody | None = None) -> HTTPResponse:
    view_count, counted = await _service(request).count_view(
        request.ctx.principal,
        video_id,
        viewer_id=body.viewer_id if body is not None else None,
        client_ip=request.ctx.client_ip,
    )
    return json_response({"video_id": video_id, "view_count": view_count, "counted": counted}, status=202)


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
    summary="Top-level comments, newest first",
    description="Published ones; `status=held` lists the comments awaiting approval "
    "(the video's owner only).",
    tag="engagement",
    parameter=[docs.path_id("video_id"), *docs.query(CommentListQuery), docs.if_none_match()],
    response=docs.responses({200: CommentPage, 304: None}, 400, 401, 403, 404),
)
@optional_authentication
async def list_comments(request: Request, video_id: int) -> HTTPResponse:
    query = parse_query(request, CommentListQuery)
    page = await request.app.ctx.services.comments.page(
        request.ctx.principal, video_id, status=query.status, limit=query.limit, cursor=query.cursor
    )
    headers = page_headers(request, page.next_cursor)

    def respond() -> HTTPResponse:
        body = {"items": [comment_json(c) for c in page.items], "next_cursor": page.next_cursor}
        return json_response(body, headers=headers)

    return conditional(request, etags.comment_page(page.items, page.next_cursor), respond, headers)


@blueprint.post("/<video_id:int>/comments")
@openapi.definition(
    operation="add_comment",
    summary="Comment on a video, or reply to a comment (`parent_id`)",
    description="Held for approval when the video's `comments_policy` is `approval` and the caller is not "
    "its owner; 403 when it is `closed`.",
    tag="engagement",
    parameter=[docs.path_id("video_id"), docs.idempotency_key()],
    body=docs.body(CommentCreate),
    response=docs.responses({201: CommentOut}, 400, 401, 403, 404, 409, 422, 503),
)
@authenticated
@json_body(CommentCreate)
@idempotent
async def add_comment(request: Request, video_id: int, body: CommentCreate) -> HTTPResponse:
    comment = await request.app.ctx.services.comments.add(
        request.ctx.principal, video_id, body.body, parent_id=body.parent_id
    )
    return json_response(comment_json(comment), status=201)


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
