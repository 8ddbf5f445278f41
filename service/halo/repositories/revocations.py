"""Durable token revocations: the truth behind the Redis revocation cache.

Each revocation takes the next *version* in the same transaction as its row: the one row of
`revocation_state` is raised and locked until the commit, so versions follow commit order and
whatever a reader sees is every revocation up to some version. The Redis cache records the
version it is complete up to, and each worker fills it up from `since` (halo.redis.revocation_cache).
"""

from __future__ import annotations

from datetime import UTC, datetime

from halo.db.models import RevocationState, RevokedToken
from halo.repositories.base import translate_errors
from halo.repositories.sql import Sql

SINCE_LIMIT = 1000


class RevocationRepository:
    @translate_errors
    async def revoke(self, jti: str, expires_at: int) -> int:
        """Record the revocation; returns its version."""
        # raw SQL: the version raised and read back in one statement (UPDATE ... RETURNING), its row
        # lock held to the commit so that versions follow commit order, and an insert that keeps the
        # first revocation of a jti (ON CONFLICT DO NOTHING)
        async with Sql().transaction() as tx:
            row = await tx.fetchrow(
                "UPDATE revocation_state SET version = version + 1 WHERE id = 1 RETURNING version"
            )
            version = int(row["version"]) if row else 0
            await tx.execute(
                "INSERT INTO revoked_tokens (jti, expires_at, version) VALUES ($1, $2, $3) "
                "ON CONFLICT (jti) DO NOTHING",
                jti,
                tx.timestamp(datetime.fromtimestamp(expires_at, UTC)),
                version,
            )
        return version

    @translate_errors
    async def is_revoked(self, jti: str) -> bool:
        return await RevokedToken.filter(jti=jti).exists()

    @translate_errors
    async def version(self) -> int:
        """The latest revocation's version: every revocation up to it is visible to reads after this one."""
        state = await RevocationState.get_or_none(id=1)
        return state.version if state else 0

    @translate_errors
    async def since(self, version: int, limit: int = SINCE_LIMIT) -> list[tuple[str, int, int]]:
        """Revocations above `version`, oldest first: (jti, expiry epoch seconds, version)."""
        rows = (
            await RevokedToken.filter(version__gt=version)
            .order_by("version")
            .limit(limit)
            .values_list("jti", "expires_at", "version")
        )
        return [(jti, int(expires_at.timestamp()), int(number)) for jti, expires_at, number in rows]

    @translate_errors
    async def active(self) -> list[tuple[str, int]]:
        """Every revocation whose token has not expired yet, as (jti, expiry epoch seconds)."""
        rows = await RevokedToken.filter(expires_at__gt=datetime.now(UTC)).values_list("jti", "expires_at")
        return [(jti, int(expires_at.timestamp())) for jti, expires_at in rows]

    @translate_errors
    async def prune(self, *, grace_seconds: int = 60) -> int:
        """Delete revocations of tokens that expired more than `grace_seconds` ago."""
        cutoff = datetime.fromtimestamp(datetime.now(UTC).timestamp() - grace_seconds, UTC)
        return await RevokedToken.filter(expires_at__lt=cutoff).delete()
