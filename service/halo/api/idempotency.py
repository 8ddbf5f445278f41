"""`@idempotent`: a create route honours `Idempotency-Key` (the rules live in services/idempotency.py).

Placed under the route's authentication and body checks, so that only a
well-formed request from a known caller claims a key. The handler's work runs
shielded from the client going away: once a key is claimed, the request
finishes and its answer is stored, so the client's retry gets it.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any

from sanic.request import Request
from sanic.response import HTTPResponse

from halo.services.idempotency import (
    HEADER,
    Attempt,
    IdempotencyService,
    StoredAnswer,
    check_key,
    fingerprint,
)

REPLAYED = "Idempotent-Replayed"

Handler = Callable[..., Awaitable[HTTPResponse]]


def idempotent(handler: Handler) -> Handler:
    @functools.wraps(handler)
    async def wrapper(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
        keys = request.headers.getall(HEADER, [])
        if not keys:
            return await handler(request, *args, **kwargs)
        key = check_key(keys)
        service: IdempotencyService = request.app.ctx.services.idempotency
        begun = await service.begin(
            request.ctx.principal.user_id, key, fingerprint(request.method, request.path, request.json)
        )
        if isinstance(begun, StoredAnswer):
            return HTTPResponse(
                begun.body, status=begun.status, content_type=begun.content_type, headers={REPLAYED: "true"}
            )
        work = asyncio.ensure_future(_answer(service, begun, handler(request, *args, **kwargs)))
        work.add_done_callback(_retrieve)
        return await asyncio.shield(work)

    return wrapper


async def _answer(service: IdempotencyService, attempt: Attempt, handling: Any) -> HTTPResponse:
    """Run the handler; keep its answer for the key, or free the key when it failed."""
    try:
        response: HTTPResponse = await handling
    except BaseException:
        await service.abandon(attempt)
        raise
    if response.status >= 500:
        await service.abandon(attempt)
    else:
        await service.finish(
            attempt, StoredAnswer(response.status, bytes(response.body or b""), response.content_type or "")
        )
    return response


def _retrieve(work: asyncio.Future[HTTPResponse]) -> None:
    """A shielded handler whose client left: its error is the error handler's no more."""
    if not work.cancelled():
        work.exception()
