"""What the middleware steps share about a request's route."""

from __future__ import annotations

from sanic.request import Request

# Probes and metrics: no rate limit, no access line, no span.
EXEMPT_PATHS = frozenset({"/health", "/health/live", "/health/ready", "/metrics"})


def route_template(request: Request) -> str:
    """The matched route (`/api/v1/videos/<video_id:int>`), never the raw path."""
    route = request.route
    return template_of(route.path if route is not None else None)


def template_of(route_path: str | None) -> str:
    """A route's path as Sanic keeps it (`api/v1/videos/<video_id:int>`) in its template form."""
    return "/" + route_path.lstrip("/") if route_path is not None else "unmatched"
