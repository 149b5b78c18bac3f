"""One error body for every API failure: `{"error": {"code", "message", "details"}}`.

Handlers map domain errors (FieldError, NotFound, PermissionDenied), ninja's own errors (validation,
authentication, throttling) and anything unexpected onto that body, so a client parses one shape.
"""

from __future__ import annotations

import logging
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError, Throttled, ValidationError

from hufen.common.errors import NotFound, PermissionDenied
from hufen.common.pii import FieldError

logger = logging.getLogger("hufen.api")

# Error codes by status for errors that carry no code of their own (ninja's HttpError).
CODE_BY_STATUS = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
}


class ErrorBody(Schema):
    code: str
    message: str
    details: Any = None


class ErrorOut(Schema):
    """Every 4xx and 5xx response of the API."""

    error: ErrorBody


class ApiError(Exception):
    """An error an endpoint or helper raises with its own status and code (e.g. `invalid_cursor`)."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        super().__init__(message)


# Statuses every operation may answer with; writes add 409. Listed in the OpenAPI document.
COMMON_ERROR_STATUSES = (400, 401, 403, 404, 422, 429, 500)


def with_errors(ok: dict[int, Any], *extra: int) -> dict[int | frozenset[int], Any]:
    """An operation's `response=` mapping: its success schemas plus the error schema."""
    responses: dict[int | frozenset[int], Any] = {}
    responses.update(ok.items())
    responses[frozenset(COMMON_ERROR_STATUSES) | frozenset(extra)] = ErrorOut
    return responses


def error_response(status: int, code: str, message: str, details: Any = None) -> HttpResponse:
    body = {"error": {"code": code, "message": message, "details": details}}
    return JsonResponse(
        body, status=status, content_type="application/json; charset=utf-8", json_dumps_params={"ensure_ascii": False}
    )


def _field_path(loc: list[Any] | tuple[Any, ...]) -> str:
    # ninja puts the source first (query, path, body, header) and, for a body, the parameter name
    # second; clients know fields by their own names, so `body.payload.phone` reads `body.phone`.
    parts = [str(p) for p in loc]
    if len(parts) >= 2 and parts[0] == "body":
        parts = [parts[0], *parts[2:]]
    return ".".join(parts)


def validation_details(errors: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [{"field": _field_path(e.get("loc", ())), "reason": str(e.get("msg", "is invalid"))} for e in errors]


def install_error_handlers(api: NinjaAPI) -> None:
    """Register the handlers on `api`; ninja picks the most specific class for an exception."""

    @api.exception_handler(ApiError)
    def _api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
        return error_response(exc.status, exc.code, exc.message, exc.details)

    @api.exception_handler(ValidationError)
    def _validation(request: HttpRequest, exc: ValidationError) -> HttpResponse:
        details = validation_details(exc.errors)
        # A body that is not JSON at all is a malformed request, not an invalid field.
        if any(e.get("type") == "json_invalid" for e in exc.errors):
            return error_response(400, "bad_request", "The request body is not valid JSON.", details)
        return error_response(422, "validation_error", "The request has invalid fields.", details)

    @api.exception_handler(FieldError)
    def _field_error(request: HttpRequest, exc: FieldError) -> HttpResponse:
        return error_response(
            422, "invalid_field", f"{exc.field}: {exc.reason}", {"field": exc.field, "reason": exc.reason}
        )

    @api.exception_handler(AuthenticationError)
    def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        response = error_response(
            401, "unauthenticated", "Send `Authorization: Bearer <token>` or log in to the console."
        )
        response["WWW-Authenticate"] = 'Bearer realm="hufen"'
        return response

    @api.exception_handler(Throttled)
    def _throttled(request: HttpRequest, exc: Throttled) -> HttpResponse:
        return error_response(429, "rate_limited", "Too many requests; retry later.", {"retry_after": exc.wait})

    @api.exception_handler(HttpError)
    def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        return error_response(exc.status_code, CODE_BY_STATUS.get(exc.status_code, "error"), exc.message)

    @api.exception_handler(PermissionDenied)
    def _forbidden(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
        return error_response(403, "forbidden", exc.message)

    @api.exception_handler(NotFound)
    def _not_found(request: HttpRequest, exc: NotFound) -> HttpResponse:
        return error_response(404, "not_found", exc.message)

    @api.exception_handler(Http404)
    def _http404(request: HttpRequest, exc: Http404) -> HttpResponse:
        return error_response(404, "not_found", "No such resource.")

    @api.exception_handler(Exception)
    def _internal(request: HttpRequest, exc: Exception) -> HttpResponse:
        # The trace goes to the log, never to the client.
        logger.exception("unhandled API error on %s %s", request.method, request.path)
        return error_response(500, "internal_error", "Internal server error.")
