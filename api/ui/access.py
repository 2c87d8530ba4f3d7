"""Who is signed in to the UI, what they may see, and the CSRF check of every state-changing request.

The session cookie is read here and nowhere else: REST and MCP authenticate bearer tokens only.
Every request re-checks the token behind the session against the hot catalog (revoked, tenant
disabled), as MCP does, so revoking a token ends its UI sessions on every worker.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from litestar import Request

from ledgergate.api.auth import Principal
from ledgergate.api.runtime import Runtime
from ledgergate.api.ui.sessions import COOKIE, SessionSigner, SignedOut, UiSession
from ledgergate.application.errors import ForbiddenError
from ledgergate.domain.api_token import role_rank

__all__ = ["CsrfRefused", "SignInNeeded", "UiState", "UiUser", "check_csrf", "current_user", "ui_state"]

CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"


class SignInNeeded(Exception):
    pass


class CsrfRefused(Exception):
    pass


@dataclass
class UiState:
    signer: SessionSigner
    signed_out: SignedOut


@dataclass(frozen=True)
class UiUser:
    session: UiSession
    principal: Principal
    csrf: str

    @property
    def role(self) -> str:
        return self.principal.role

    def may(self, min_role: str) -> bool:
        return role_rank(self.role) >= role_rank(min_role)

    def tenant(self, wanted: str | None) -> str:
        """The tenant a page shows: the user's own, or any for a platform admin. Raises: ForbiddenError."""
        tenant = wanted or self.principal.tenant_id
        self.principal.allow(tenant, "viewer")
        return tenant


def ui_state(request: Request[Any, Any, Any]) -> UiState:
    state: UiState | None = getattr(request.app.state, "admin_ui", None)
    if state is None:
        runtime: Runtime = request.app.state.runtime
        state = UiState(SessionSigner(runtime.keys.jwt_key), SignedOut(runtime.extras.get("ui_signed_out")))
        request.app.state.admin_ui = state
    return state


def current_user(request: Request[Any, Any, Any]) -> UiUser:
    """Raises: SignInNeeded without a live session; ForbiddenError for a disabled tenant."""
    state = ui_state(request)
    session = state.signer.verify(request.cookies.get(COOKIE))
    if session is None or state.signed_out.ended(session):
        raise SignInNeeded
    runtime: Runtime = request.app.state.runtime
    hot = runtime.hot
    revoked = (
        hot.token_revoked(session.token_id) if hot is not None else runtime.catalog.is_token_revoked(session.token_id)
    )
    if revoked:
        raise SignInNeeded
    if session.role != "platform-admin":
        active = hot.tenant_active(session.tenant_id) if hot is not None else False
        if not active and not runtime.queries.tenant_is_active(session.tenant_id):
            raise ForbiddenError(f"tenant {session.tenant_id!r} is disabled or deleted")
    request_id = str(uuid.uuid4())
    principal = Principal(
        token_id=session.token_id,
        subject=session.subject,
        tenant_id=session.tenant_id,
        role=session.role,
        correlation_id=request_id,
        request_id=request_id,
    )
    return UiUser(session, principal, state.signer.csrf_token(session))


def same_origin(request: Request[Any, Any, Any]) -> bool:
    """A browser names the page a request came from; one from another site is refused outright."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None and request.headers.get("sec-fetch-site") in (None, "same-origin", "none")
    # the scheme too: behind a TLS proxy the request's is the one a trusted proxy forwarded (api/proxy_headers.py)
    return _origin(origin) == _origin(f"{request.url.scheme}://{request.headers.get('host', '')}")


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    default = {"http": ":80", "https": ":443"}.get(parts.scheme, "")
    netloc = parts.netloc.lower()
    return parts.scheme, netloc[: -len(default)] if default and netloc.endswith(default) else netloc


def check_csrf(request: Request[Any, Any, Any], user: UiUser, form: dict[str, Any]) -> None:
    """Raises: CsrfRefused unless the request carries this session's CSRF token and comes from this site."""
    presented = request.headers.get(CSRF_HEADER) or form.get(CSRF_FIELD)
    if not same_origin(request) or not ui_state(request).signer.csrf_ok(user.session, presented):
        raise CsrfRefused
