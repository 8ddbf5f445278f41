"""Field types shared by request schemas: the contract's text, URL and email rules."""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, Field, GetCoreSchemaHandler, GetJsonSchemaHandler, StringConstraints
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

MAX_URL_LENGTH = 2048
_URL_FORBIDDEN = re.compile(r"[\x00-\x20\x7f]")


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _http_url(value: str) -> str:
    """An absolute http(s) URL, kept exactly as sent (stored text comes back byte for byte)."""
    _no_nul(value)
    if _URL_FORBIDDEN.search(value):
        raise ValueError("must be an http or https URL without spaces or control characters")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise ValueError("must be a valid http or https URL") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http or https URL")
    return value


def _email(value: str) -> str:
    _no_nul(value)
    try:
        # `.test` addresses are fine (RFC 2606 names for testing); other special-use domains are not.
        validate_email(value, check_deliverability=False, test_environment=True)
    except EmailNotValidError:
        raise ValueError("not a valid email address") from None
    return value.lower()


def _password(value: str) -> str:
    _no_nul(value)
    size = len(value.encode())
    if size < 8:
        raise ValueError("must be at least 8 bytes")
    if size > 72:
        raise ValueError("must be at most 72 bytes")
    return value


NO_NUL_PATTERN = "^[^\\u0000]*$"


class _NoNul:
    """Refuses NUL characters, and says so in the JSON schema (unless a stricter pattern is there)."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_after_validator_function(_no_nul, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema.setdefault("pattern", NO_NUL_PATTERN)
        return json_schema


NoNul = _NoNul()


Email = Annotated[str, Field(max_length=254, json_schema_extra={"format": "email"}), AfterValidator(_email)]
Password = Annotated[
    str,
    Field(
        description="8 to 72 bytes of UTF-8 (the character bounds here are the loosest those imply)",
        json_schema_extra={"minLength": 2, "maxLength": 72, "pattern": NO_NUL_PATTERN},
    ),
    AfterValidator(_password),
]
Username = Annotated[str, StringConstraints(min_length=3, max_length=30, pattern=r"^[A-Za-z0-9_]+$")]
HttpUrl = Annotated[
    str,
    Field(
        max_length=MAX_URL_LENGTH, json_schema_extra={"format": "uri", "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://"}
    ),
    AfterValidator(_http_url),
]
