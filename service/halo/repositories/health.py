"""The database's pulse, for /health and readiness."""

from __future__ import annotations

import asyncio
import time

from tortoise import connections

from halo.repositories.base import translate_errors


class DatabaseProbe:
    @translate_errors
    async def ping(self, timeout: float) -> float:
        """Seconds a trivial query took; raises DatabaseUnavailable (or TimeoutError) when it fails."""
        started = time.perf_counter()
        await asyncio.wait_for(connections.get("default").execute_query("SELECT 1"), timeout)
        return time.perf_counter() - started
