"""The API's front door: what this is and where its documentation lives."""

from __future__ import annotations

from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse
from sanic_ext import openapi

from halo import __version__
from halo.api import docs
from halo.api.schemas import ApiRoot
from halo.api.validation import optional_authentication
from halo.http.responses import json_response

blueprint = Blueprint("root")

_BODY = {"service": "halo", "version": __version__, "docs": "/docs", "openapi": "/openapi.json"}


@blueprint.get("/api/v1", ctx_lean_cors=True)  # hot: CORS without a hook of its own
@openapi.definition(
    operation="get_api_root",
    summary="Service name, version and documentation links",
    tag="operations",
    response=docs.responses({200: ApiRoot}),
)
@optional_authentication
async def api_root(request: Request) -> HTTPResponse:
    return json_response(_BODY)
