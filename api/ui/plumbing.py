"""What every UI handler shares: the signed-in user, the form, running use cases off the event loop,
and turning refusals and application errors into pages."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

import anyio.to_thread
from litestar import Request, Response
from litestar.exceptions import HTTPException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.response import Redirect

from ledgergate.api.errors import STATUS
from ledgergate.api.positions import parse_position
from ledgergate.api.runtime import Runtime
from ledgergate.api.ui.access import CsrfRefused, SignInNeeded, UiUser, check_csrf, current_user
from ledgergate.api.ui.render import SECURITY_HEADERS, html
from ledgergate.application.errors import ApplicationError, ValidationError

__all__ = [
    "PREFIX",
    "BodyTooLarge",
    "form_int",
    "posted",
    "redirect",
    "run",
    "runtime",
    "too_large",
    "ui_exception_handlers",
    "viewer",
]

PREFIX = "/admin"
log = logging.getLogger("ledgergate.ui")
T = TypeVar("T")


def runtime(request: Request[Any, Any, Any]) -> Runtime:
    return request.app.state.runtime  # type: ignore[no-any-return]


async def run(fn: Callable[..., T], *args: Any) -> T:
    """The registry and the queries are synchronous: one hop to a worker thread."""
    return await anyio.to_thread.run_sync(lambda: fn(*args))


async def viewer(request: Request[Any, Any, Any]) -> UiUser:
    return await run(current_user, request)


class BodyTooLarge(ValidationError):
    """A form (an upload) larger than the request body limit: nothing of it was read, nothing was changed."""


def too_large(request: Request[Any, Any, Any], instead: str) -> BodyTooLarge:
    """The message a page shows for an upload over the limit: the limit, and what to do ``instead``."""
    limit = runtime(request).settings.max_body_bytes
    size = f"{limit / 1_048_576:g} MiB" if limit >= 1_048_576 else f"{limit / 1024:g} KiB"
    return BodyTooLarge(
        f"file: the upload is larger than this gateway accepts in one request, {size} "
        f"(LEDGERGATE_MAX_BODY_BYTES = {limit} bytes); nothing was changed. {instead}",
        field="file",
    )


async def posted(request: Request[Any, Any, Any]) -> tuple[UiUser, dict[str, Any]]:
    """The user and the form of a state-changing request, after its CSRF check.
    Raises: CsrfRefused; BodyTooLarge (before any of the form is read, so without a CSRF check: the caller
    only shows a page)."""
    user = await viewer(request)
    try:
        form = dict(await request.form())
    except RequestEntityTooLarge:
        raise BodyTooLarge("the request is larger than LEDGERGATE_MAX_BODY_BYTES", field="file") from None
    check_csrf(request, user, form)
    return user, form


def form_int(form: dict[str, Any], name: str) -> int | None:
    """A whole number a form carries (a version or a position), or None when absent. Raises: ValidationError."""
    raw = str(form.get(name) or "").strip()
    if not raw:
        return None
    value = parse_position(raw)
    if value is None:
        raise ValidationError(f"{name}: a whole number", field=name)
    return value


def redirect(path: str) -> Response[Any]:
    return Redirect(PREFIX + path, status_code=303, headers=SECURITY_HEADERS)


def _sign_in(request: Request[Any, Any, Any], _: SignInNeeded) -> Response[Any]:
    if request.method in ("GET", "HEAD"):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return Redirect(f"{PREFIX}/login?next={quote(target)}", status_code=303, headers=SECURITY_HEADERS)
    return html("error.html", 401, user=None, title="Signed out", detail="Your session has ended; sign in again.")


def _csrf(_: Request[Any, Any, Any], __: CsrfRefused) -> Response[Any]:
    detail = "This request did not carry this session's CSRF token (or came from another site); nothing was changed."
    return html("error.html", 403, user=None, title="Refused", detail=detail)


def _application(_: Request[Any, Any, Any], exc: ApplicationError) -> Response[Any]:
    status = next((code for cls, code in STATUS.items() if isinstance(exc, cls)), 400)
    return html("error.html", status, user=None, title="Refused" if status == 403 else "Error", detail=exc.detail)


def _http(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    return html("error.html", exc.status_code, user=None, title="Error", detail=str(exc.detail))


def _internal(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return html("error.html", 500, user=None, title="Error", detail="An unexpected error occurred; it was logged.")


ui_exception_handlers: dict[Any, Any] = {
    SignInNeeded: _sign_in,
    CsrfRefused: _csrf,
    ApplicationError: _application,
    HTTPException: _http,
    Exception: _internal,
}
