"""Pydantic's validation errors as the envelope's `details`: `{field, issue}` per broken rule.

Shared by the request-body validation (422, mapped in the error handler) and the
query-string parsing (400) of the API.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from halo.services.errors import FieldIssue


def field_issues(error: ValidationError) -> list[FieldIssue]:
    errors = error.errors(include_url=False, include_context=False, include_input=False)
    return [FieldIssue(".".join(str(part) for part in e["loc"]) or "body", _issue_text(e)) for e in errors]


def _issue_text(error: Any) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "is required"
    if kind == "model_type" or kind == "model_attributes_type":
        return "must be a JSON object"
    message: str = error["msg"]
    return message.removeprefix("Value error, ")
