"""Comments by id: replies, edit, delete, approve (listing and posting live under the video)."""

from __future__ import annotations

from typing import Any

from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse
from sanic_ext import openapi

from halo.api import docs, etags
from halo.api.schemas import CommentOut, CommentPage, CommentPatch, ReplyListQuery
from halo.api.validation import authenticated, json_body, optional_authentication, parse_query
from halo.http.conditional import conditional
from halo.http.links import page_headers
from halo.http.responses import json_response, no_content
from halo.services.comments import CommentRow, CommentService

blueprint = Blueprint("comments", url_prefix="/api/v1/comments")


def _service(request: Request) -> CommentService:
    return request.app.ctx.services.comments


def comment_json(comment: CommentRow) -> dict[str, Any]:
    return {
        "id": comment.id,
        "video_id": comment.video_id,
        "user_id": comment.user_id,
        "parent_id": comment.parent_id,
        "body": comment.body,
        "status": comment.status,
        "reply_count": comment.reply_count,
        "created_at": comment.created_at,
        "edited_at": comment.edited_at,
    }


@blueprint.get("/<comment_id:int>/replies")
@openapi.definition(
    operation="list_replies",
    summary="A comment's published replies, oldest first",
    tag="comments",
    parameter=[docs.path_id("comment_id"), *docs.query(ReplyListQuery), docs.if_none_match()],
    response=docs.responses({200: CommentPage, 304: None}, 400, 401, 404),
)
@optional_authentication
async def list_replies(request: Request, comment_id: int) -> HTTPResponse:
    query = parse_query(request, ReplyListQuery)
    page = await _service(request).replies(
        request.ctx.principal, comment_id, limit=query.limit, cursor=query.cursor
    )
    headers = page_headers(request, page.next_cursor)

    def respond() -> HTTPResponse:
        body = {"items": [comment_json(c) for c in page.items], "next_cursor": page.next_cursor}
        return json_response(body, headers=headers)

    return conditional(request, etags.comment_page(page.items, page.next_cursor), respond, headers)


@blueprint.patch("/<comment_id:int>")
@openapi.definition(
    operation="edit_comment",
    summary="Edit a comment (its author only)",
    tag="comments",
    parameter=docs.path_id("comment_id"),
    body=docs.body(CommentPatch),
    response=docs.responses({200: CommentOut}, 400, 401, 403, 404, 422),
)
@authenticated
@json_body(CommentPatch)
async def edit_comment(request: Request, comment_id: int, body: CommentPatch) -> HTTPResponse:
    comment = await _service(request).edit(request.ctx.principal, comment_id, body.body)
    return json_response(comment_json(comment))


@blueprint.delete("/<comment_id:int>")
@openapi.definition(
    operation="delete_comment",
    summary="Delete a comment (its author or the video's owner); a top-level one takes its replies",
    tag="comments",
    parameter=docs.path_id("comment_id"),
    response=docs.responses({204: None}, 401, 403, 404),
)
@authenticated
async def delete_comment(request: Request, comment_id: int) -> HTTPResponse:
    await _service(request).delete(request.ctx.principal, comment_id)
    return no_content()


@blueprint.post("/<comment_id:int>/approve")
@openapi.definition(
    operation="approve_comment",
    summary="Publish a held comment (the video's owner only)",
    tag="comments",
    parameter=docs.path_id("comment_id"),
    response=docs.responses({200: CommentOut}, 401, 403, 404),
)
@authenticated
async def approve_comment(request: Request, comment_id: int) -> HTTPResponse:
    comment = await _service(request).approve(request.ctx.principal, comment_id)
    return json_response(comment_json(comment))
