"""Keyset pages and their signed cursors, shared by every listing service."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from halo.security.cursors import CursorCodec, InvalidCursor
from halo.services.errors import BadInput, FieldIssue

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None
    degraded: bool = False


def decode_cursor(cursors: CursorCodec, cursor: str, scope: list[Any]) -> list[Any]:
    """The position a cursor carries; 400 when it was changed, forged or made for another scope."""
    try:
        return cursors.decode(cursor, scope)
    except InvalidCursor as exc:
        raise BadInput("invalid cursor", [FieldIssue("cursor", str(exc))]) from None


def bad_cursor() -> BadInput:
    return BadInput("invalid cursor", [FieldIssue("cursor", "cursor is not valid")])
