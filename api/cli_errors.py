"""How ``ledgergate`` fails: one line on standard error, an exit code that says what kind of failure it was.

Every error a command can meet is mapped here, once, to an exit code and to the problem type the REST API
gives the same error (``urn:ledgergate:problem:<slug>``), so a script can tell "not found" from "invalid"
from "the database is down" without reading prose. ``--json`` puts the problem details object (one line)
on standard error instead of the sentence; ``--debug`` (or ``LEDGERGATE_DEBUG=1``) adds the traceback.
docs/cli.md lists the codes.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

import msgspec

from ledgergate.application.errors import (
    ApplicationError,
    ConflictError,
    ForbiddenError,
    GoneError,
    NotFoundError,
    NotReadyError,
    SettingsError,
    StoreUnavailableError,
    UnauthorizedError,
    UpstreamUnavailableError,
    ValidationError,
    VersionConflictError,
)

__all__ = [
    "CONFLICT",
    "FAILED",
    "FORBIDDEN",
    "INTERNAL",
    "INTERRUPTED",
    "INVALID",
    "NOT_FOUND",
    "OK",
    "PIPE_CLOSED",
    "UNAVAILABLE",
    "USAGE",
    "CliError",
    "run_reporting_errors",
]

OK = 0
#: the command ran and its answer is "no": an export that is not intact, an import with conflicts or failed items
FAILED = 1
#: the command line itself: an unknown option, a value that cannot be read (a time, a number), an invalid setting
USAGE = 2
#: something named does not exist or cannot be read: a tenant, an entity, a token, a file
NOT_FOUND = 3
#: the input was read but refused: a body that fails validation, a file that is not a valid export
INVALID = 4
#: a name is taken, the entity changed since the version given, or it was deleted
CONFLICT = 5
#: the tenant is disabled, or the role does not allow it
FORBIDDEN = 6
#: the database, Redis or an upstream could not be reached; nothing was written
UNAVAILABLE = 7
#: a bug: the message says so; --debug shows the traceback
INTERNAL = 70
INTERRUPTED = 130
#: standard output was closed before everything was printed (``ledgergate audit log | head``): quietly, as 128+SIGPIPE
PIPE_CLOSED = 141

#: application error -> exit code; the first match wins (subclasses before their base classes)
CODES: list[tuple[type[ApplicationError], int]] = [
    (NotFoundError, NOT_FOUND),
    (GoneError, CONFLICT),
    (ConflictError, CONFLICT),
    (VersionConflictError, CONFLICT),
    (ValidationError, INVALID),
    (UnauthorizedError, FORBIDDEN),
    (ForbiddenError, FORBIDDEN),
    (NotReadyError, UNAVAILABLE),
    (StoreUnavailableError, UNAVAILABLE),
    (UpstreamUnavailableError, UNAVAILABLE),
]
SLUGS = {
    FAILED: "failed",
    USAGE: "usage",
    NOT_FOUND: "not-found",
    INVALID: "validation-error",
    CONFLICT: "conflict",
    FORBIDDEN: "forbidden",
    UNAVAILABLE: "unavailable",
    INTERNAL: "internal-error",
}


class CliError(Exception):
    """A failure the command line reports as it is: ``detail`` is the line, ``code`` the exit code."""

    def __init__(self, detail: str, code: int, problem: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code
        self.problem = problem or SLUGS.get(code, "error")
        self.extra = extra


def _from_application(exc: ApplicationError) -> CliError:
    code = next((code for cls, code in CODES if isinstance(exc, cls)), INVALID)
    return CliError(exc.detail, code, exc.problem, **exc.extra)


#: the store driver's errors that mean "the database can't be reached", and the first line of what the
#: driver said; the composition root (``api/cli_common.py``) hands them over with :func:`recognise_store_errors`
_unreachable: tuple[type[BaseException], ...] = ()
_reason: Callable[[BaseException], str] = str


def recognise_store_errors(errors: tuple[type[BaseException], ...], reason: Callable[[BaseException], str]) -> None:
    global _unreachable, _reason
    _unreachable, _reason = errors, reason


def classify(exc: BaseException) -> CliError:
    """The one-line error, exit code and problem type of any exception a command raised."""
    if isinstance(exc, CliError):
        return exc
    if isinstance(exc, StoreUnavailableError):
        return CliError(f"cannot reach the database: {_reason(exc.__cause__ or exc)}", UNAVAILABLE, exc.problem)
    if isinstance(exc, ApplicationError):
        return _from_application(exc)
    if isinstance(exc, SettingsError):
        return CliError(f"invalid setting: {exc}", USAGE, "invalid-setting")
    if isinstance(exc, _unreachable):
        return CliError(f"cannot reach the database: {exc}", UNAVAILABLE, "store-unavailable")
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return CliError(f"{where}{exc.strerror or exc}", NOT_FOUND, "file-error")
    return CliError(
        f"unexpected error: {type(exc).__name__}: {exc} (run again with --debug to see the traceback)", INTERNAL
    )


def _problem(error: CliError) -> dict[str, Any]:
    from ledgergate.api.errors import PROBLEM_BASE  # the web framework only when it is needed

    return {"type": PROBLEM_BASE + error.problem, "detail": error.detail, "exit_code": error.code, **error.extra}


def report(error: CliError, as_json: bool) -> None:
    if as_json:
        print(msgspec.json.encode(_problem(error)).decode(), file=sys.stderr)
        return
    field = error.extra.get("field")
    suffix = f" (field {field})" if field and str(field) not in error.detail else ""
    print(f"ledgergate: {error.detail}{suffix}", file=sys.stderr)


def debugging(args: Any) -> bool:
    return bool(getattr(args, "debug", False)) or os.environ.get("LEDGERGATE_DEBUG", "") not in ("", "0")


def run_reporting_errors(func: Callable[[Any], int], args: Any) -> int:
    """Run a command; any exception becomes one line (and the traceback with --debug) and its exit code."""
    try:
        return int(func(args))
    except KeyboardInterrupt:
        print("ledgergate: interrupted", file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError:  # the reader has gone: say nothing, and keep the interpreter from flushing again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return PIPE_CLOSED
    except Exception as exc:  # the command line's top-level boundary: every error ends here, as one line
        if debugging(args):
            traceback.print_exc()
        error = classify(exc)
        report(error, bool(getattr(args, "json", False)))
        return error.code
