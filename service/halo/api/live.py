"""Live engagement over a WebSocket: `GET /api/v1/videos/{id}/live`.

The upgrade request is an ordinary API request until it is admitted: the
pipeline authenticates it, checks the rate limit, and `LiveAdmission` checks
the video (404 for one the caller may not see), the query, the upgrade
headers and the instance's room, all *before* the handshake, so a refusal is
a normal error in the envelope. After the handshake the socket receives the
video's engagement (see `halo.services.live`) until either side closes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Iterator
from typing import Any

from sanic import Blueprint
from sanic.exceptions import SanicException
from sanic.request import Request
from sanic_ext import openapi

from halo.api import docs
from halo.api.schemas import LiveQuery
from halo.api.validation import optional_authentication, parse_query
from halo.observability import metrics
from halo.services.engagement import viewer_key
from halo.services.errors import NotFound, Throttled, Unauthorized, Unavailable
from halo.services.live import (
    CLIENT_LEFT,
    NOT_FOUND,
    TOO_SLOW,
    UNAUTHORIZED,
    CloseReason,
    Full,
    LiveHub,
    LiveSocket,
)
from halo.services.live_places import Refusal

log = logging.getLogger("halo.live")

blueprint = Blueprint("live", url_prefix="/api/v1/videos")

BEARER_SUBPROTOCOL = "bearer"
PER_CLIENT_RETRY_SECONDS = 5


class BearerIfOffered:
    """The route's subprotocols, read at each handshake: `bearer` when this client offered it (the
    server must then answer it, or browsers drop the socket), else none (websockets refuses a
    client that offers none when the server lists any)."""

    def __iter__(self) -> Iterator[str]:
        offered = Request.get_current().headers.get("sec-websocket-protocol", "")
        chosen = BEARER_SUBPROTOCOL in (item.strip().lower() for item in offered.split(","))
        return iter((BEARER_SUBPROTOCOL,) if chosen else ())


DESCRIPTION = """Upgrades to a WebSocket (RFC 6455) that pushes the video's engagement as JSON text
messages: `{"type": "engagement", "video_id", "view_count", "like_count", "comment_count",
"live_viewers"}` (the fields of `GET /videos/{id}/engagement`; `null` while Redis is unreachable).
The first message comes at once; later ones when the engagement changes, on any replica, at most
4 a second (`LIVE_UPDATE_INTERVAL_SECONDS`), and at least every 5 s while live viewers may have expired.

The socket counts as a live viewer, in the same presence set as `POST /presence`: as the user when
authenticated, else as `viewer_id` (or a viewer of its own without one). Authenticate with
`Authorization: Bearer`; or, where headers cannot be set (browsers), with the subprotocols
`["bearer", "<token>"]` (`Sec-WebSocket-Protocol`; the server answers `bearer`), or `access_token`
(or `token`) in the query. A logout closes the token's open sockets on every replica (4401) within seconds.

Refusals before the upgrade are ordinary errors: 404 (no such video, or not visible to the caller),
400 (bad query parameter), 401 (bad token), 426 (not a WebSocket upgrade), 429 (rate limit, or this
client already holds `WS_MAX_CONNECTIONS_PER_IP` sockets on this instance), and 503 when this
instance holds `WS_MAX_CONNECTIONS` sockets or is shutting down. The server sends pings every
`WS_PING_INTERVAL_SECONDS` and ignores messages from the client. Close codes: 1000 normal, 1001 server
shutting down (reconnect), 4401 token expired or revoked, 4404 video deleted or no longer visible,
4408 client too slow (a send stalled for `WS_SEND_TIMEOUT_SECONDS`)."""


def _hub(request: Request) -> LiveHub:
    return request.app.ctx.services.live


def _head_of_websocket(request: Request) -> bool:
    """A HEAD of the WebSocket route (sanic-ext's automatic twin of its GET): admitted or refused
    as that GET would be, then a 426 like a GET without an upgrade."""
    if request.method != "HEAD":
        return False
    try:
        route = request.app.router.get(request.path, "GET", request.headers.get("host"))[0]
    except SanicException:
        return False
    return bool(route.extra.websocket)


class LiveAdmission:
    """A request step: admits a WebSocket route's request, or refuses it, before the handshake."""

    def __call__(self, request: Request) -> Awaitable[None] | None:
        route = request.route
        if route is None or not (route.extra.websocket or _head_of_websocket(request)):
            return None
        return self._admit(request)

    async def _admit(self, request: Request) -> None:
        query = parse_query(request, LiveQuery)
        principal = request.ctx.principal
        videos = request.app.ctx.services.videos
        await videos.get(principal, request.match_info["video_id"])
        if principal is None and query.viewer_id is None:
            key = f"a:ws-{uuid.uuid4().hex}"  # a viewer of its own
        else:
            key = viewer_key(principal, query.viewer_id)
        if request.headers.get("upgrade", "").lower() != "websocket":
            raise SanicException(
                "this endpoint speaks WebSocket only: send Upgrade: websocket",
                status_code=426,
                headers={"Upgrade": "websocket"},
            )
        refusal = _hub(request).admit(request.ctx.client_key)
        if refusal is Refusal.FULL:
            raise Unavailable("no room for another live connection here; try again shortly")
        if refusal is Refusal.CLIENT:
            raise Throttled(
                "too many live connections from this client; close one first",
                retry_after=PER_CLIENT_RETRY_SECONDS,
            )
        request.ctx.live_viewer_key = key


@blueprint.websocket("/<video_id:int>/live", subprotocols=BearerIfOffered())  # type: ignore[arg-type]
@openapi.definition(
    operation="watch_live",
    summary="Live engagement over a WebSocket",
    description=DESCRIPTION,
    tag="engagement",
    parameter=[docs.path_id("video_id"), *docs.query(LiveQuery)],
    response=docs.responses({101: None}, 400, 401, 404, 426, 429, 503),
)
@optional_authentication
async def live(request: Request, ws: Any, video_id: int) -> None:  # its query is checked at admission
    hub = _hub(request)
    request.app.ctx.upgraded(request)  # the access line and request metrics, as a 101
    try:
        socket = await hub.join(
            video_id, request.ctx.principal, request.ctx.live_viewer_key, request.ctx.client_key
        )
    except Full:
        await ws.close(1013, "try again later")
        return
    except NotFound:  # deleted since admission
        await ws.close(NOT_FOUND.code, NOT_FOUND.reason)
        return
    metrics.record_websocket_opened()
    started = time.perf_counter()
    reader = asyncio.create_task(_read_until_closed(ws, socket))
    try:
        await _pump(request, ws, socket)
    finally:
        reader.cancel()
        socket.end(CLIENT_LEFT)  # unless it ended for a reason of ours already
        reason = socket.closing or CLIENT_LEFT
        await hub.leave(socket)
        metrics.record_websocket_closed(reason.code)
        log.info(
            "websocket closed",
            extra={
                "websocket": {
                    "video_id": video_id,
                    "close_code": reason.code,
                    "seconds": round(time.perf_counter() - started, 3),
                    "messages": socket.sent,
                },
                "request_id": getattr(request.ctx, "request_id", None),
            },
        )


async def _pump(request: Request, ws: Any, socket: LiveSocket) -> None:
    """Send what the feed offers until the socket must close (`socket.closing` says why)."""
    settings = request.app.ctx.settings
    auth = request.app.ctx.services.auth
    token: str | None = getattr(request.ctx, "token", None)
    principal = socket.viewer
    recheck_at = time.monotonic() + settings.ws_auth_recheck_seconds
    while True:
        wait = None
        if principal is not None:
            wait = max(0.0, min(recheck_at - time.monotonic(), principal.expires_at - time.time()))
        item = await socket.next(wait)
        if item is None:  # time to look at the token again
            if principal is None or token is None or principal.expires_at <= time.time():
                socket.end(UNAUTHORIZED)
                continue
            try:
                principal = await auth.authenticate(token)
            except Unauthorized:
                socket.end(UNAUTHORIZED)
                continue
            except Exception as exc:  # a dependency is down: keep the socket, check again later
                log.debug("could not check a live socket's token (%s)", type(exc).__name__)
            else:
                _hub(request).update_viewer(socket, principal)
            recheck_at = time.monotonic() + settings.ws_auth_recheck_seconds
            continue
        if isinstance(item, CloseReason):
            if item is not CLIENT_LEFT:
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(settings.ws_send_timeout_seconds):
                        await ws.close(item.code, item.reason)
            return
        try:
            async with asyncio.timeout(settings.ws_send_timeout_seconds):
                await ws.send(item)
        except TimeoutError:
            # The client does not read (or its network stalls): drop it rather than buffer for it.
            socket.end(TOO_SLOW)
            ws.fail_connection(TOO_SLOW.code, TOO_SLOW.reason)
            return
        except Exception:  # closed under us
            return
        socket.sent += 1
        metrics.record_websocket_message()


async def _read_until_closed(ws: Any, socket: LiveSocket) -> None:
    """Client messages are ignored, but must be read: that is how a close from the client is seen."""
    try:
        while True:
            await ws.recv()
    except Exception:  # noqa: S110 - closed, by either side
        pass
    finally:
        socket.end(CLIENT_LEFT)
