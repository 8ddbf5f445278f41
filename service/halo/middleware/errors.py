"""The error envelope, in one place, for every non-2xx response.

Typed service errors, store outages, request bodies that break a model's rule
(sanic-ext's validation: 422) and the framework's own errors (404, 405, 408,
413, 414, 431) all leave as `{error, message, details?, request_id}`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from pydantic import ValidationError as ModelValidationError
from sanic.exceptions import (
    BadRequest,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    RequestCancelled,
    RequestTimeout,
    SanicException,
    ServiceUnavailable,
)
from sanic.handlers import ErrorHandler
from sanic.request import Request
from sanic.response import HTTPResponse
from sanic_ext.exceptions import ValidationError as BodyValidationError

from halo.http.field_issues import field_issues
from halo.http.request_ids import request_id_of
from halo.http.responses import json_response
from halo.middleware.limits import classify_oversized_head
from halo.middleware.recovery import report_crash
from halo.services import errors as service_errors

log = logging.getLogger("halo.errors")

CLIENT_CLOSED_REQUEST = 499

_SERVICE_STATUS: dict[type[service_errors.ServiceError], tuple[int, str]] = {
    service_errors.BadInput: (400, "bad_request"),
    service_errors.Unauthorized: (401, "unauthorized"),
    service_errors.Forbidden: (403, "forbidden"),
    service_errors.NotFound: (404, "not_found"),
    service_errors.Conflict: (409, "conflict"),
    service_errors.ValidationFailed: (422, "validation_failed"),
    service_errors.IdempotencyKeyReused: (422, "idempotency_key_reused"),
    service_errors.Unavailable: (503, "unavailable"),
    service_errors.Throttled: (429, "rate_limited"),
}

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    409: "conflict",
    413: "payload_too_large",
    414: "uri_too_long",
    415: "bad_request",
    417: "bad_request",
    422: "validation_failed",
    426: "upgrade_required",
    429: "rate_limited",
    431: "headers_too_large",
    503: "unavailable",
}

_MESSAGES: dict[type[Exception], str] = {
    NotFound: "no such resource",
    RequestTimeout: "the request was not received in time",
}


def envelope(
    request: Request,
    status: int,
    code: str,
    message: str,
    details: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> HTTPResponse:
    body: dict[str, object] = {"error": code, "message": message}
    if details:
        body["details"] = details
    body["request_id"] = request_id_of(request)
    return json_response(body, status=status, headers=headers)


class EnvelopeErrorHandler(ErrorHandler):
    def __init__(self, unavailable: tuple[type[BaseException], ...] = ()) -> None:
        super().__init__()
        self._unavailable = unavailable
        # Metrics: called with the reason of every 401 (bad token, missing token, bad credentials).
        self.on_unauthorized: list[Callable[[str], None]] = []

    def default(self, request: Request, exception: Exception) -> HTTPResponse:
        if isinstance(exception, service_errors.Unauthorized):
            for callback in self.on_unauthorized:
                callback(exception.reason)
        if isinstance(exception, service_errors.ServiceError):
            status, code = _status_of(exception)
            details = [{"field": d.field, "issue": d.issue} for d in exception.details] or None
            headers = None
            if isinstance(exception, (service_errors.Throttled, service_errors.Busy)):
                headers = {"Retry-After": str(exception.retry_after)}
            return envelope(request, status, code, exception.message, details, headers=headers)
        if isinstance(exception, self._unavailable):
            log.warning("dependency unavailable: %s: %s", type(exception).__name__, exception)
            return envelope(request, 503, "unavailable", "a service this request needs is unavailable")
        if isinstance(exception, BodyValidationError):
            return _invalid_body(request, exception)
        if isinstance(exception, PayloadTooLarge) and "header" in str(exception).lower():
            exception = classify_oversized_head(request)
        if isinstance(exception, SanicException):
            return self._framework_error(request, exception)
        if isinstance(exception, RequestCancelled):
            # The client went away; nobody reads this. 499 (nginx's "client closed request")
            # keeps it out of the 5xx error ratio, and it is no crash.
            return envelope(request, CLIENT_CLOSED_REQUEST, "client_closed_request", "the client went away")
        if request.app.ctx.state.schema_behind:
            log.warning(
                "request failed while migrations are pending: %s: %s", type(exception).__name__, exception
            )
            return envelope(
                request,
                503,
                "unavailable",
                "the database is not migrated to this release yet; try again shortly",
                headers={"Retry-After": "5"},
            )
        return report_crash(request, exception, envelope)

    def _framework_error(self, request: Request, exception: SanicException) -> HTTPResponse:
        status = exception.status_code
        if status >= 500 and not isinstance(exception, ServiceUnavailable):
            return report_crash(request, exception, envelope)
        code = _CODES.get(status, "bad_request" if status < 500 else "unavailable")
        message = _MESSAGES.get(type(exception)) or str(exception) or code.replace("_", " ")
        if isinstance(exception, MethodNotAllowed):
            message = f"method {request.method} is not allowed here"
        elif isinstance(exception, BadRequest) and status == 400:
            message = str(exception) or "malformed request"
        headers = {k: str(v) for k, v in (exception.headers or {}).items()}
        if isinstance(exception, MethodNotAllowed) and "Allow" not in headers:
            headers["Allow"] = ", ".join(_allowed_methods(request))
        return envelope(request, status, code, message, headers=headers)


def _invalid_body(request: Request, exception: BodyValidationError) -> HTTPResponse:
    """422 naming each broken rule. sanic-ext raises its error while handling pydantic's, which
    stays its context (`raise ... from None` only hides it from tracebacks)."""
    cause = exception.__context__
    details = None
    if isinstance(cause, ModelValidationError):
        details = [{"field": issue.field, "issue": issue.issue} for issue in field_issues(cause)]
    return envelope(request, 422, "validation_failed", "request body failed validation", details)


_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _allowed_methods(request: Request) -> list[str]:
    """Sanic's router does not name the allowed methods of dynamic paths: ask it for each one."""
    allowed = []
    for method in _METHODS:
        try:
            request.app.router.get(request.path, method, request.headers.get("host"))
        except SanicException:
            continue
        allowed.append(method)
    return allowed


def _status_of(error: service_errors.ServiceError) -> tuple[int, str]:
    for kind in type(error).__mro__:
        if kind in _SERVICE_STATUS:
            return _SERVICE_STATUS[kind]  # type: ignore[index]
    return 500, "internal_error"
