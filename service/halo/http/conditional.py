"""Conditional GET: `ETag` on a representation and 304 for an `If-None-Match` that matches it.

A tag is computed from the values the representation is made of (ids, change
times, counters, the caller's own state), never from its encoded body, so a
304 costs no encoding. Tags are weak (`W/"..."`): the same representation may
leave gzip-encoded or not, which a strong tag would have to tell apart.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from sanic.request import Request
from sanic.response import HTTPResponse

ETAG = "ETag"


def entity_tag(*parts: object) -> str:
    """A weak tag over `parts` (ints, strings, bools, None, datetimes, tuples and dataclasses of
    those: their repr is the same in every process, unlike their hash)."""
    return tag_of(repr(parts))


def tag_of(text: str) -> str:
    """A weak tag over `text`: for a hot path that spells its parts out itself (cheaper than repr)."""
    return 'W/"' + hashlib.blake2b(text.encode(), digest_size=12).hexdigest() + '"'


def none_match(header: str | None, tag: str) -> bool:
    """Whether `If-None-Match` matches `tag` by RFC 9110's weak comparison: `*`, or a listed tag
    with the same opaque part, `W/` or not. A malformed list matches nothing from where it breaks."""
    if not header:
        return False
    if header == tag:  # the usual case: the tag sent back as it came
        return True
    if header.strip() == "*":
        return True
    opaque = tag[2:] if tag.startswith("W/") else tag
    return opaque in _entity_tags(header)


def _entity_tags(header: str) -> list[str]:
    """The opaque parts (quotes included) of a list of entity tags; a quoted tag may hold commas."""
    tags = []
    position, end = 0, len(header)
    while position < end:
        char = header[position]
        if char in " \t,":
            position += 1
            continue
        if header.startswith("W/", position):
            position += 2
        if position >= end or header[position] != '"':
            break
        closing = header.find('"', position + 1)
        if closing < 0:
            break
        tags.append(header[position : closing + 1])
        position = closing + 1
    return tags


def conditional(
    request: Request,
    tag: str,
    respond: Callable[[], HTTPResponse],
    headers: dict[str, str] | None = None,
) -> HTTPResponse:
    """304 with `tag` (and `headers`) when the request's `If-None-Match` matches it, else the
    response `respond` builds, with the tag."""
    if none_match(request.headers.get("if-none-match"), tag):
        not_modified = HTTPResponse(status=304, headers=headers)
        not_modified.headers[ETAG] = tag
        return not_modified
    response = respond()
    response.headers[ETAG] = tag
    return response
