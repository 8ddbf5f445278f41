"""`Idempotency-Key`: a retried create gets the first answer again instead of creating twice.

The first request with a key claims it and is processed; its answer is kept
24 hours for the same caller. A repeat with the same body gets that answer; a
repeat with another body is refused (422), one that arrives while the first is
still in progress too (409). Keys are per caller: the record is named by the
user id and a hash of the key. With the key store down nothing is processed
(503): a request that cannot be remembered could be processed twice.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

import orjson

from halo.redis.idempotency import Claimed, IdempotencyStore, StoredAnswer
from halo.redis.link import StoreUnavailable
from halo.services.errors import BadInput, Conflict, FieldIssue, IdempotencyKeyReused, Unavailable

log = logging.getLogger("halo.idempotency")

HEADER = "Idempotency-Key"
KEY_TTL_SECONDS = 24 * 3600
MAX_KEY_LENGTH = 255

__all__ = ["HEADER", "Attempt", "IdempotencyService", "StoredAnswer", "fingerprint"]


@dataclass(frozen=True, slots=True)
class Attempt:
    """A request that holds its key: finish it with its answer, or abandon it."""

    record_key: str
    claim: Claimed


def fingerprint(method: str, path: str, document: Any) -> str:
    """sha256 of the request: method, path and the JSON body in canonical form (keys sorted, no
    spaces), so that a retry that encodes the same body differently is still the same request."""
    try:
        body = orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # not JSON orjson can write (an integer over 64 bits): its repr will do
        body = repr(document).encode()
    return hashlib.sha256(f"{method} {path}\n".encode() + body).hexdigest()


def check_key(values: list[str]) -> str:
    """The request's one key: 1-255 printable ASCII characters, else a 400 on the header."""
    if len(values) != 1:
        raise _bad_key("must be sent once")
    key = values[0]
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not all(" " <= char <= "~" for char in key):
        raise _bad_key(f"must be 1-{MAX_KEY_LENGTH} printable ASCII characters")
    return key


def _bad_key(issue: str) -> BadInput:
    return BadInput(f"invalid {HEADER} header", [FieldIssue(HEADER, issue)])


class IdempotencyService:
    def __init__(self, store: IdempotencyStore, *, ttl_seconds: int = KEY_TTL_SECONDS) -> None:
        self._store = store
        self._ttl = ttl_seconds

    async def begin(self, caller: int, key: str, request_fingerprint: str) -> Attempt | StoredAnswer:
        """Claim the caller's key for this request (an Attempt: go on), or the stored answer of
        the same request. Raises 422 for another body, 409 while the first is in progress,
        503 when the key store is down."""
        record_key = f"{caller}:{hashlib.sha256(key.encode()).hexdigest()}"
        try:
            found = await self._store.claim(record_key, request_fingerprint, self._ttl)
        except StoreUnavailable:
            raise Unavailable(f"{HEADER} cannot be honoured right now; try again later") from None
        if isinstance(found, Claimed):
            return Attempt(record_key, found)
        if found.fingerprint != request_fingerprint:
            raise IdempotencyKeyReused(f"this {HEADER} was already used with a different request")
        if found.answer is None:
            raise Conflict(f"a request with this {HEADER} is still in progress")
        return found.answer

    async def finish(self, attempt: Attempt, answer: StoredAnswer) -> None:
        """Keep the answer for the key's repeats."""
        try:
            await self._store.complete(attempt.record_key, attempt.claim, answer, self._ttl)
        except StoreUnavailable:
            # Processed, but not remembered: repeats see the claim (409) until it expires.
            log.warning("answer to an Idempotency-Key request not stored: key store unavailable")

    async def abandon(self, attempt: Attempt) -> None:
        """The request failed: free its key so that a retry is processed."""
        try:
            await self._store.release(attempt.record_key, attempt.claim)
        except StoreUnavailable:
            log.warning(
                "Idempotency-Key not released (key store unavailable): 409 for repeats until it expires"
            )
