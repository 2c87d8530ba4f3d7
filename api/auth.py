"""Bearer-token authentication and role checks for the REST API.

A token limited to virtual servers (``server_ids``) exists for MCP clients of those servers. On REST it
may read those servers and nothing else, and write nothing: the rule is checked here, once for every
route, so a route added later is refused to such a token unless it is named in ``_SERVER_READS``.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from litestar import Request
from litestar.di import NamedDependency

from ledgergate.api.observability.context import note_caller
from ledgergate.api.runtime import Runtime
from ledgergate.application.errors import ForbiddenError, InvalidTokenError, UnauthorizedError
from ledgergate.domain.api_token import role_rank
from ledgergate.domain.envelope import Envelope, qualified_actor

__all__ = ["AuthPrincipal", "Principal", "authenticate", "provide_principal"]

_CORRELATION = re.compile(r"^[\x21-\x7e]{1,128}$")
#: The only routes a server-scoped token may use on REST (GET, for a server it is limited to).
_SERVER_READS = frozenset({"/v1/tenants/{tenant}/servers/{item_id}", "/v1/tenants/{tenant}/servers/{item_id}/history"})


@dataclass(frozen=True)
class Principal:
    token_id: str
    subject: str
    tenant_id: str
    role: str
    correlation_id: str
    request_id: str
    server_ids: tuple[str, ...] | None = None

    def allow(self, tenant_id: str | None, min_role: str) -> None:
        """Raises: ForbiddenError unless this token may act with ``min_role`` in ``tenant_id``."""
        if self.role == "platform-admin":
            return
        if tenant_id is None:
            raise ForbiddenError("this needs a platform-admin token")
        if tenant_id != self.tenant_id:
            raise ForbiddenError(f"this token is not valid for tenant {tenant_id!r}")
        if role_rank(self.role) < role_rank(min_role):
            raise ForbiddenError(f"this needs the {min_role} role or higher; the token has {self.role}")

    def envelope(self, tenant_id: str) -> Envelope:
        """Events this caller records in ``tenant_id`` name its token, and its subject qualified by its tenant."""
        return Envelope(
            tenant_id=tenant_id,
            actor=qualified_actor(self.tenant_id, self.subject),
            correlation_id=self.correlation_id,
            causation_id=self.request_id,
            actor_token_id=self.token_id,
            actor_tenant=self.tenant_id,
        )


def authenticate(runtime: Runtime, authorization: str | None, correlation_id: str | None) -> Principal:
    """Raises: UnauthorizedError for a missing, invalid, expired or revoked token."""
    if not authorization or not authorization.lower().startswith("bearer "):
        raise UnauthorizedError("send a bearer token: Authorization: Bearer <token>")
    try:
        claims = runtime.tokens.verify(authorization[7:].strip())
    except InvalidTokenError as exc:
        raise UnauthorizedError(f"invalid token: {exc}") from None
    # A serving process reads revocation and tenant state from its hot catalog (no database round trip);
    # a runtime without one (the CLI) asks the durable view.
    hot = runtime.hot
    revoked = (
        hot.token_revoked(claims.token_id) if hot is not None else runtime.catalog.is_token_revoked(claims.token_id)
    )
    if revoked:
        raise UnauthorizedError("this token was revoked")
    if claims.role != "platform-admin":
        active = hot.tenant_active(claims.tenant_id) if hot is not None else None
        if not active and not runtime.queries.tenant_is_active(claims.tenant_id):
            raise ForbiddenError(f"tenant {claims.tenant_id!r} is disabled or deleted")
    request_id = str(uuid.uuid4())
    correlation = correlation_id if correlation_id and _CORRELATION.match(correlation_id) else request_id
    return Principal(
        token_id=claims.token_id,
        subject=claims.subject,
        tenant_id=claims.tenant_id,
        role=claims.role,
        correlation_id=correlation,
        request_id=request_id,
        server_ids=claims.server_ids,
    )


#: How handlers ask for the caller: ``principal: AuthPrincipal``.
AuthPrincipal = NamedDependency[Principal]


def provide_principal(request: Request[Any, Any, Any]) -> Principal:
    runtime: Runtime = request.app.state.runtime
    principal = authenticate(runtime, request.headers.get("authorization"), request.headers.get("x-correlation-id"))
    note_caller(principal.tenant_id, principal.token_id, principal.correlation_id)  # for the access log
    if principal.server_ids is not None:
        _check_server_scope(principal.server_ids, request)
    return principal


def _check_server_scope(server_ids: tuple[str, ...], request: Request[Any, Any, Any]) -> None:
    """Raises: ForbiddenError unless this is a read of one of the servers the token is limited to."""
    template = request.scope.get("path_template")
    server = request.path_params.get("item_id")
    if request.method in ("GET", "HEAD") and template in _SERVER_READS and server in server_ids:
        return
    raise ForbiddenError(
        "this token is limited to virtual servers: on REST it may only read those servers "
        "(GET /v1/tenants/{tenant}/servers/{id}); use MCP at /servers/{id}/mcp, or a token without server_ids",
        error="insufficient_scope",
    )


def readable_tenant(principal: Principal, tenant: str | None, min_role: str = "viewer") -> str | None:
    """A platform admin may read every tenant (``tenant`` omitted); everyone else reads their own."""
    wanted = tenant if tenant is not None or principal.role == "platform-admin" else principal.tenant_id
    principal.allow(wanted, min_role)
    return wanted
