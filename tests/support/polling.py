"""Waiting for what happens in the background: call a check until it holds, with a generous
deadline, and hand back its last result for the caller to assert (never a timing assertion)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def poll_until(check: Callable[[], T], timeout: float = 10.0, interval: float = 0.1) -> T:
    """Call `check` until its result is truthy or `timeout` seconds have passed; the last result."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(interval)


async def eventually(check: Callable[[], Awaitable[T]], timeout: float = 10.0, interval: float = 0.1) -> T:
    """`poll_until` for an async check."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result or asyncio.get_running_loop().time() > deadline:
            return result
        await asyncio.sleep(interval)
