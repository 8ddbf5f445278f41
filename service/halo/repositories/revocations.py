"""Durable token revocations: the truth behind the Redis revocation cache."""

from __future__ import annotations

from datetime import UTC, datetime

from halo.db.models import RevokedToken
from halo.repositories.base import translate_errors


class RevocationRepository:
    @translate_errors
    async def revoke(self, jti: str, expires_at: int) -> None:
        await RevokedToken.get_or_create(
            jti=jti, defaults={"expires_at": datetime.fromtimestamp(expires_at, UTC)}
        )

    @translate_errors
    async def is_revoked(self, jti: str) -> bool:
        return await RevokedToken.filter(jti=jti).exists()

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
