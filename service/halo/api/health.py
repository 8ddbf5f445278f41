"""Probes: /health (dependencies), /health/live (the process), /health/ready (take traffic?)."""

from __future__ import annotations

from dataclasses import asdict

from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse
from sanic_ext import openapi

from halo import __version__
from halo.api import docs
from halo.api.schemas import HealthBody, ProbeBody
from halo.http.request_ids import request_id_of
from halo.http.responses import json_response

blueprint = Blueprint("health")


@blueprint.get("/health")
@openapi.definition(
    operation="get_health",
    summary="Dependency health",
    description="200 when ok or degraded (Redis down), 503 when the database is down. "
    "A 503 body also carries the error envelope's fields.",
    tag="operations",
    response=docs.responses({200: HealthBody, 503: HealthBody}),
)
async def health(request: Request) -> HTTPResponse:
    result = await request.app.ctx.services.health.check()
    body: dict[str, object] = {
        "status": result.status,
        "checks": {"database": asdict(result.database), "redis": asdict(result.redis)},
        "version": __version__,
    }
    if result.status == "down":
        body.update(
            error="unavailable", message="the database is unreachable", request_id=request_id_of(request)
        )
        return json_response(body, status=503)
    return json_response(body)


@blueprint.get("/health/live")
@openapi.definition(
    operation="get_liveness",
    summary="Liveness: the process can serve",
    tag="operations",
    response=docs.responses({200: ProbeBody}),
)
async def live(request: Request) -> HTTPResponse:
    return json_response({"status": "alive"})


@blueprint.get("/health/ready")
@openapi.definition(
    operation="get_readiness",
    summary="Readiness: start-up complete and not draining",
    tag="operations",
    response=docs.responses({200: ProbeBody, 503: ProbeBody}),
)
async def ready(request: Request) -> HTTPResponse:
    state = request.app.ctx.state
    if state.ready and not state.draining:
        return json_response({"status": "ready"})
    status = "draining" if state.draining else "starting"
    return json_response(
        {
            "status": status,
            "error": "unavailable",
            "message": f"instance is {status}",
            "request_id": request_id_of(request),
        },
        status=503,
    )
