"""The middleware pipeline: each concern's module provides a step; this runs them in order.

Sanic calls one request and one response middleware here instead of one per
concern: on a trivial route, Sanic's per-middleware bookkeeping (and a
coroutine per step) cost more than the steps themselves. Steps are plain
functions; a request step may return an awaitable (only when it has I/O to
do, e.g. checking a token) or a response that ends the request.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sanic.request import Request
from sanic.response import HTTPResponse

RequestStep = Callable[[Request], Any]  # -> None | HTTPResponse | Awaitable[None | HTTPResponse]
ResponseStep = Callable[[Request, HTTPResponse], None]


class RequestPipeline:
    def __init__(self, steps: Sequence[RequestStep]) -> None:
        self._steps = tuple(steps)

    async def __call__(self, request: Request) -> HTTPResponse | None:
        for step in self._steps:
            result = step(request)
            if result is None:
                continue
            if hasattr(result, "__await__"):
                result = await result
                if result is None:
                    continue
            return result  # a response: the request ends here (a CORS preflight)
        return None


class ResponsePipeline:
    def __init__(self, steps: Sequence[ResponseStep]) -> None:
        self._steps = tuple(steps)

    def __call__(self, request: Request, response: HTTPResponse) -> None:
        for step in self._steps:
            step(request, response)
