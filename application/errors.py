"""Errors the application reports; the API maps each to one problem type and status."""

from __future__ import annotations

__all__ = [
    "AlreadyIssuedError",
    "ApplicationError",
    "ConcurrentWriteError",
    "ConflictError",
    "EgressRefusedError",
    "ForbiddenError",
    "GoneError",
    "InvalidParameterError",
    "InvalidTokenError",
    "NotFoundError",
    "NotReadyError",
    "SettingsError",
    "StoreUnavailableError",
    "ToolCallError",
    "UnauthorizedError",
    "UpstreamUnavailableError",
    "ValidationError",
    "VersionConflictError",
]


class ApplicationError(Exception):
    """Base class. ``problem`` is the stable last segment of the problem ``type`` URI."""

    problem = "error"

    def __init__(self, detail: str, **extra: object) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class ValidationError(ApplicationError):
    problem = "validation-error"


class EgressRefusedError(ValidationError):
    """A URL's target is refused by the outbound connection policy (HTTP 422); nothing was connected to."""

    problem = "egress-refused"


class InvalidParameterError(ValidationError):
    """A query parameter or header the API cannot read (a cursor it did not issue): a malformed request."""

    problem = "invalid-request"


class NotFoundError(ApplicationError):
    problem = "not-found"


class GoneError(ApplicationError):
    problem = "deleted"


class ConflictError(ApplicationError):
    problem = "name-conflict"


class AlreadyIssuedError(ConflictError):
    """A token was already issued with this issue key (a form sent again): nothing new was issued (HTTP 409)."""

    problem = "already-issued"


class VersionConflictError(ApplicationError):
    problem = "version-conflict"


class ConcurrentWriteError(VersionConflictError):
    """Another writer appended to the same stream between this command's read and its save."""


class UnauthorizedError(ApplicationError):
    problem = "unauthorized"


class ForbiddenError(ApplicationError):
    problem = "forbidden"


class NotReadyError(ApplicationError):
    """A read asked for a position the projections have not reached in time."""

    problem = "position-not-reached"

    def __init__(self, detail: str, retry_after_s: int = 1, **extra: object) -> None:
        super().__init__(detail, **extra)
        self.retry_after_s = retry_after_s


class StoreUnavailableError(ApplicationError):
    """The database cannot be reached (stopped, restarting, connection lost): nothing was written. A write
    that was under way when the connection broke may still have been committed; reading it back tells."""

    problem = "store-unavailable"

    def __init__(self, detail: str, retry_after_s: int = 2, **extra: object) -> None:
        super().__init__(detail, **extra)
        self.retry_after_s = retry_after_s


class ToolCallError(Exception):
    """A tool call could not be made or failed; the message becomes an ``isError`` result for the client."""


class UpstreamUnavailableError(ApplicationError):
    """An upstream could not be reached or did not answer as an MCP server (HTTP 502)."""

    problem = "upstream-unavailable"


class InvalidTokenError(Exception):
    """A bearer token is not one this gateway (or its configured OpenID Connect issuer) signed, or it expired."""


class SettingsError(Exception):
    """A setting is invalid; the message names the variable and what it should be."""
