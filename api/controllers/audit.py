"""The audit log, point-in-time catalogs and diffs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from litestar import Request, Router, get
from litestar.di import Provide
from litestar.params import FromQuery, QueryParameter

from ledgergate.api.auth import AuthPrincipal, provide_principal, readable_tenant
from ledgergate.api.controllers.catalog import MinPosition
from ledgergate.api.openapi import documented
from ledgergate.api.positions import After
from ledgergate.application.audit import AuditFilter, AuditService, Point, parse_point
from ledgergate.application.errors import InvalidParameterError

__all__ = ["audit_router"]

Limit = Annotated[int, QueryParameter(ge=1, le=1000)]


def _audit(request: Request[Any, Any, Any]) -> AuditService:
    return request.app.state.runtime.audit  # type: ignore[no-any-return]


def point_param(name: str, value: str) -> Point:
    """A query parameter holding a log position or an RFC 3339 time. Raises: InvalidParameterError (a 400)."""
    try:
        return parse_point(value)
    except ValueError as exc:
        raise InvalidParameterError(f"{name}: a position or an RFC 3339 time ({exc})", field=name) from None


def _time(name: str, value: str | None) -> datetime | None:
    return point_param(name, value).time if value else None


@get(
    "/audit",
    sync_to_thread=True,
    summary=(
        "Who changed what, when: filter by actor, token_id, actor_tenant, entity, kind, type and time; "
        "continue with after=next_after"
    ),
)
def audit_log(
    request: Request[Any, Any, Any],
    principal: AuthPrincipal,
    tenant: FromQuery[str | None] = None,
    actor: FromQuery[str | None] = None,
    token_id: FromQuery[str | None] = None,
    actor_tenant: FromQuery[str | None] = None,
    entity: FromQuery[str | None] = None,
    kind: FromQuery[str | None] = None,
    type: FromQuery[str | None] = None,
    since: FromQuery[str | None] = None,
    until: FromQuery[str | None] = None,
    after: After = 0,
    limit: Limit = 100,
    min_position: MinPosition = None,
) -> dict[str, Any]:
    flt = AuditFilter(
        tenant_id=readable_tenant(principal, tenant),
        actor=actor,
        token_id=token_id,
        actor_tenant=actor_tenant,
        entity_id=entity,
        entity_kind=kind,
        event_type=type,
        since=_time("since", since),
        until=_time("until", until),
    )
    items = request.app.state.runtime.audit_log.feed(flt, after, limit, min_position)
    return {"items": items, "next_after": items[-1]["position"] if len(items) == limit else None}


@get("/audit/catalog", sync_to_thread=True, summary="A tenant's catalog as it was at a time or position")
def audit_catalog(
    request: Request[Any, Any, Any],
    principal: AuthPrincipal,
    at: FromQuery[str],
    tenant: FromQuery[str | None] = None,
    server: FromQuery[str | None] = None,
) -> dict[str, Any]:
    wanted = readable_tenant(principal, tenant) or principal.tenant_id
    return _audit(request).catalog(wanted, point_param("at", at), server)


@get("/audit/diff", sync_to_thread=True, summary="What was added, changed and removed between two points")
def audit_diff(
    request: Request[Any, Any, Any],
    principal: AuthPrincipal,
    from_: Annotated[str, QueryParameter(name="from")],
    to: FromQuery[str],
    tenant: FromQuery[str | None] = None,
    server: FromQuery[str | None] = None,
) -> dict[str, Any]:
    wanted = readable_tenant(principal, tenant) or principal.tenant_id
    return _audit(request).diff(wanted, point_param("from", from_), point_param("to", to), server)


audit_router = documented(
    Router(
        path="/v1",
        tags=["audit"],
        route_handlers=[audit_log, audit_catalog, audit_diff],
        dependencies={"principal": Provide(provide_principal, sync_to_thread=True)},
    )
)
