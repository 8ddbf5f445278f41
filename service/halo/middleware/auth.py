"""Bearer authentication for every API route.

A request without `Authorization` is anonymous; a request with one must carry
a valid token, on every route, including those where authentication is
optional. Handlers then find the caller in `request.ctx.principal`.
"""

from __future__ import annotations

from collections.abc import Awaitable

from sanic.request import Request

from halo.services.auth import AuthService
from halo.services.errors import Unauthorized

API_PREFIX = "/api/"


class BearerAuth:
    def __init__(self, service: AuthService) -> None:
        self._service = service

    def authenticate(self, request: Request) -> Awaitable[None] | None:
        """Nothing to await for an anonymous request; the token check otherwise."""
        request.ctx.principal = None
        self._service.calling(None)  # a keep-alive connection's requests share one task's context
        header = request.headers.get("authorization")
        route = request.route
        if header is None:
            # Browsers cannot set headers on a WebSocket: its upgrade may carry the token as the
            # subprotocols ["bearer", "<token>"], or in the query.
            if route is not None and route.extra.websocket:
                token = websocket_token(request)
                if token is not None:
                    return self._check(request, token)
            return None
        # Unknown paths and methods answer 404/405 whatever the token.
        if route is None or not request.path.startswith(API_PREFIX):
            return None
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or " " in token:
            raise Unauthorized("Authorization must be 'Bearer <token>'", reason="malformed_header")
        return self._check(request, token)

    async def _check(self, request: Request, token: str) -> None:
        request.ctx.principal = await self._service.authenticate(token)
        request.ctx.token = token  # an open WebSocket checks it again from time to time


def websocket_token(request: Request) -> str | None:
    """A WebSocket upgrade's token: `Sec-WebSocket-Protocol: bearer, <token>`, else the query's
    `access_token` or `token`."""
    offered = request.headers.get("sec-websocket-protocol")
    if offered:
        protocols = [item.strip() for item in offered.split(",")]
        if len(protocols) >= 2 and protocols[0].lower() == "bearer":
            return protocols[1]
    for name in ("access_token", "token"):
        if name in request.args:
            return request.args.get(name, "")
    return None
