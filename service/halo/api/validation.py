"""Parsing bodies and query strings at the edge into schema objects, with contract errors."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sanic.request import Request

from halo.services.errors import BadInput, FieldIssue, ValidationFailed

M = TypeVar("M", bound=BaseModel)

_JSON_TYPES = ("application/json",)


def parse_body(request: Request, model: type[M]) -> M:
    """A JSON object body validated against `model`.

    400 when it is not JSON at all, 422 when a field breaks a rule."""
    content_type = (request.content_type or "").split(";", 1)[0].strip().lower()
    if content_type not in _JSON_TYPES and not content_type.endswith("+json"):
        raise BadInput(
            "request body must be JSON (Content-Type: application/json)",
            [FieldIssue("Content-Type", "must be application/json")],
        )
    body = request.body
    if not body:
        raise BadInput("request body must be a JSON object", [FieldIssue("body", "is empty")])
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False, include_input=False)
        if any(error["type"] == "json_invalid" for error in errors):
            raise BadInput(
                "request body is not valid JSON", [FieldIssue("body", "is not valid JSON")]
            ) from None
        raise ValidationFailed("request body failed validation", field_issues(errors)) from None


def parse_query(request: Request, model: type[M]) -> M:
    """Query parameters validated against `model`; any bad parameter is a 400 naming it."""
    raw: dict[str, Any] = {}
    try:  # `?limit=` is a bad value, not an absent one; invalid UTF-8 is refused, not replaced
        args = request.get_args(keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        raise BadInput(
            "query string is not valid UTF-8", [FieldIssue("query", "is not valid UTF-8")]
        ) from None
    for name in model.model_fields:
        values = args.getlist(name)
        if values:
            raw[name] = values[0]
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False, include_input=False)
        raise BadInput("invalid query parameter", field_issues(errors)) from None


def field_issues(errors: list[Any]) -> list[FieldIssue]:
    issues = []
    for error in errors:
        location = ".".join(str(part) for part in error["loc"]) or "body"
        issues.append(FieldIssue(location, _issue_text(error)))
    return issues


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
