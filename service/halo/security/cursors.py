"""Opaque, signed pagination cursors bound to the listing they came from.

A cursor carries the keyset position (sort key and id) and a fingerprint of
the sort and filters (or the video, for comments). It is HMAC-signed with a
key derived from the JWT secret, so a changed, forged or mismatched cursor is
refused instead of silently paging through something else.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import orjson

_SIGNATURE_BYTES = 16


class InvalidCursor(ValueError):
    pass


class CursorCodec:
    def __init__(self, secret: str) -> None:
        self._key = hmac.new(secret.encode(), b"halo-cursor-v1", hashlib.sha256).digest()

    def encode(self, scope: Any, position: list[Any]) -> str:
        payload = orjson.dumps({"s": _fingerprint(scope), "p": position})
        signature = hmac.new(self._key, payload, hashlib.sha256).digest()[:_SIGNATURE_BYTES]
        return base64.urlsafe_b64encode(signature + payload).rstrip(b"=").decode()

    def decode(self, cursor: str, scope: Any) -> list[Any]:
        """The position inside `cursor`, if it was made by us for this same `scope`."""
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except (ValueError, TypeError):
            raise InvalidCursor("cursor is not valid") from None
        signature, payload = raw[:_SIGNATURE_BYTES], raw[_SIGNATURE_BYTES:]
        expected = hmac.new(self._key, payload, hashlib.sha256).digest()[:_SIGNATURE_BYTES]
        if len(signature) != _SIGNATURE_BYTES or not hmac.compare_digest(signature, expected):
            raise InvalidCursor("cursor is not valid")
        try:
            data = orjson.loads(payload)
        except orjson.JSONDecodeError:
            raise InvalidCursor("cursor is not valid") from None
        if (
            not isinstance(data, dict)
            or data.get("s") != _fingerprint(scope)
            or not isinstance(data.get("p"), list)
        ):
            raise InvalidCursor("cursor belongs to a different listing (sort or filters changed)")
        return data["p"]


def _fingerprint(scope: Any) -> str:
    return hashlib.sha256(orjson.dumps(scope, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]
