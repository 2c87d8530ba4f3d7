"""Sign in with an API token (pasted once, exchanged for a session cookie) and sign out."""

from __future__ import annotations

import time
from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromQuery

from ledgergate.api.auth import authenticate
from ledgergate.api.ui.access import CSRF_FIELD, CSRF_HEADER, CsrfRefused, SignInNeeded, same_origin, ui_state
from ledgergate.api.ui.plumbing import PREFIX, redirect, run, runtime
from ledgergate.api.ui.render import html
from ledgergate.api.ui.sessions import COOKIE, UiSession
from ledgergate.application.errors import ApplicationError, StoreUnavailableError

__all__ = ["sign_in", "sign_in_page", "sign_out"]


def _next(value: Any) -> str:
    """Only a path inside the UI: never an open redirect."""
    text = str(value or "")
    return text[len(PREFIX) :] if text.startswith(PREFIX + "/") and not text.startswith("//") else "/"


def _cookie(request: Request[Any, Any, Any], response: Response[Any], value: str, max_age: int) -> None:
    secure = request.url.scheme == "https"  # behind a TLS proxy: its X-Forwarded-Proto, if it is trusted
    response.set_cookie(COOKIE, value, max_age=max_age, path=PREFIX, httponly=True, samesite="strict", secure=secure)


@get("/login", sync_to_thread=False, include_in_schema=False)
def sign_in_page(next: FromQuery[str | None] = None) -> Response[str]:
    return html("login.html", user=None, next=next or "", error=None)


def _open_session(request: Request[Any, Any, Any], token: str) -> UiSession:
    rt = runtime(request)
    principal = authenticate(rt, f"Bearer {token}", None)
    claims = rt.tokens.verify(token)  # the gateway's own tokens and the external issuer's
    if claims.server_ids is not None:
        raise ApplicationError("this token is limited to virtual servers; sign in with a tenant token")
    return ui_state(request).signer.open(
        principal.token_id, principal.subject, principal.tenant_id, principal.role, claims.expires_at
    )


@post("/login", include_in_schema=False)
async def sign_in(request: Request[Any, Any, Any]) -> Response[Any]:
    if not same_origin(request):
        raise CsrfRefused
    form = await request.form()
    token = str(form.get("token") or "").strip()
    try:
        session = await run(_open_session, request, token)
    except ApplicationError as exc:
        return html("login.html", 401, user=None, next=form.get("next") or "", error=exc.detail)
    response = redirect(_next(form.get("next")))
    _cookie(request, response, ui_state(request).signer.sign(session), int(session.expires_at - time.time()))
    return response


@post("/logout", include_in_schema=False)
async def sign_out(request: Request[Any, Any, Any]) -> Response[Any]:
    # only the cookie's signature and the CSRF token: an ended, revoked or unknown-state session may sign out
    state = ui_state(request)
    session = state.signer.verify(request.cookies.get(COOKIE))
    if session is None:
        raise SignInNeeded
    form = await request.form()
    if not same_origin(request) or not state.signer.csrf_ok(
        session, request.headers.get(CSRF_HEADER) or form.get(CSRF_FIELD)
    ):
        raise CsrfRefused
    try:
        await run(state.signed_out.end, session)  # every worker refuses it from now on
    except StoreUnavailableError as exc:  # ended here, and the cookie goes; other workers could not be told
        response: Response[Any] = html(
            "error.html", 503, user=None, title="Signed out on this worker", detail=exc.detail
        )
    else:
        response = redirect("/login")
    _cookie(request, response, "", 0)
    return response
