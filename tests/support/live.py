"""A test client for the live-engagement WebSocket (`GET /api/v1/videos/{id}/live`)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

Message = dict[str, Any]


def live_url(base_url: str, video_id: int, **query: str) -> str:
    url = base_url.replace("http://", "ws://", 1) + f"/api/v1/videos/{video_id}/live"
    return f"{url}?{urlencode(query)}" if query else url


class LiveClient:
    """One open socket; keeps every message it received, in order."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.messages: list[Message] = []

    @classmethod
    async def open(
        cls, base_url: str, video_id: int, *, headers: dict[str, str] | None = None, **query: str
    ) -> LiveClient:
        connection = await connect(
            live_url(base_url, video_id, **query), additional_headers=headers, open_timeout=10
        )
        return cls(connection)

    async def next(self, timeout: float = 5.0) -> Message:
        raw = await asyncio.wait_for(self.connection.recv(), timeout)
        message = json.loads(raw)
        self.messages.append(message)
        return message

    async def until(self, check: Callable[[Message], bool], timeout: float = 5.0) -> Message:
        """The latest state once it satisfies `check`: the last message received if it does, else
        the next one that does (waits up to `timeout`, never asserts a time)."""
        if self.messages and check(self.messages[-1]):
            return self.messages[-1]
        async with asyncio.timeout(timeout):
            while True:
                message = await self.next(timeout)
                if check(message):
                    return message

    async def closed(self, timeout: float = 10.0) -> int | None:
        """Read until the server closes; the close code it sent."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    await self.next(timeout)
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd is not None else None

    async def close(self) -> None:
        await self.connection.close()

    async def __aenter__(self) -> LiveClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
