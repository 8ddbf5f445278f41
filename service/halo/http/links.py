"""`Link: <...>; rel="next"` (RFC 8288) on a page that has a next one.

The target is the request's own path and query with `cursor` replaced (or
added): a client that follows it keeps its sort, filters and limit. It is a
relative reference, resolved against the request's URI, so it stays right
behind any proxy.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from sanic.request import Request

CURSOR = "cursor"


def next_page_link(request: Request, next_cursor: str) -> str:
    args = request.get_query_args(keep_blank_values=True)
    pairs, replaced = [], False
    for name, value in args:
        if name == CURSOR:
            if replaced:
                continue  # one cursor: the next page's
            value, replaced = next_cursor, True
        pairs.append((name, value))
    if not replaced:
        pairs.append((CURSOR, next_cursor))
    # The path as the request line had it (already a valid, percent-encoded path).
    return f'<{request.path}?{urlencode(pairs, quote_via=quote)}>; rel="next"'


def page_headers(
    request: Request, next_cursor: str | None, headers: dict[str, str] | None = None
) -> dict[str, str] | None:
    """`headers` with the page's `Link` when there is a next page."""
    if next_cursor is None:
        return headers
    return {**(headers or {}), "Link": next_page_link(request, next_cursor)}
