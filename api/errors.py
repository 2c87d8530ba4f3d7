"""One table from errors to HTTP problem details (RFC 9457)."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from ledgergate.application.errors import (
    ApplicationError,
    ConflictError,
    ForbiddenError,
    GoneError,
    InvalidParameterError,
    NotFoundError,
    NotReadyError,
    StoreUnavailableError,
    UnauthorizedError,
    UpstreamUnavailableError,
    ValidationError,
    VersionConflictError,
)

__all__ = ["PROBLEM_BASE", "exception_handlers", "problem"]

log = logging.getLogger("ledgergate.api")

PROBLEM_BASE = "urn:ledgergate:problem:"
PROBLEM_JSON = "application/problem+json"

STATUS: dict[type[ApplicationError], int] = {
    InvalidParameterError: 400,  # before its base class ValidationError: the first match wins
    ValidationError: 422,
    NotFoundError: 404,
    GoneError: 410,
    ConflictError: 409,
    VersionConflictError: 409,
    UnauthorizedError: 401,
    ForbiddenError: 403,
    NotReadyError: 503,
    StoreUnavailableError: 503,
    UpstreamUnavailableError: 502,
}
HTTP_PROBLEMS = {
    400: "invalid-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    413: "body-too-large",
    415: "unsupported-media-type",
    429: "too-many-requests",
}
TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    410: "Gone",
    413: "Body too large",
    415: "Unsupported media type",
    422: "Invalid value",
    500: "Internal error",
    502: "Bad gateway",
    503: "Service unavailable",
}


def problem(
    status: int,
    slug: str,
    detail: str,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response[dict[str, Any]]:
    body = {
        "type": PROBLEM_BASE + slug,
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        **({"instance": instance} if instance else {}),
        **extra,
    }
    return Response(content=body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _application_error(request: Request[Any, Any, Any], exc: ApplicationError) -> Response[dict[str, Any]]:
    status = next((code for cls, code in STATUS.items() if isinstance(exc, cls)), 400)
    headers = {}
    if isinstance(exc, NotReadyError | StoreUnavailableError):
        headers["Retry-After"] = str(exc.retry_after_s)
    if isinstance(exc, UnauthorizedError):
        headers["WWW-Authenticate"] = 'Bearer realm="ledgergate"'
    return problem(status, exc.problem, exc.detail, request.url.path, headers, **exc.extra)


def _validation(request: Request[Any, Any, Any], exc: ValidationException) -> Response[dict[str, Any]]:
    return problem(
        400,
        "invalid-request",
        str(exc.detail),
        request.url.path,
        errors=exc.extra if isinstance(exc.extra, list) else [],
    )


def _http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    slug = HTTP_PROBLEMS.get(exc.status_code, "error")
    return problem(exc.status_code, slug, str(exc.detail), request.url.path, exc.headers)


def _internal(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(500, "internal-error", "an unexpected error occurred; it was logged", request.url.path)


exception_handlers: dict[Any, Any] = {
    ApplicationError: _application_error,
    ValidationException: _validation,
    HTTPException: _http,
    Exception: _internal,
}
