"""The API's front door: what this is and where its documentation lives."""

from __future__ import annotations

from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse

from halo import __version__
from halo.api.operation import operation
from halo.api.schemas import ApiRoot
from halo.http.responses import json_response

blueprint = Blueprint("root")

_BODY = {"service": "halo", "version": __version__, "docs": "/docs", "openapi": "/openapi.json"}


@blueprint.get("/api/v1")
@operation(
    "Service name, version and documentation links",
    tag="operations",
    auth="optional",
    responses={200: ApiRoot},
)
async def api_root(request: Request) -> HTTPResponse:
    return json_response(_BODY)
