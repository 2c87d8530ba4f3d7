"""The event feed, the audit log, point-in-time catalogs and diffs, and export/import of the log."""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Annotated, Any

import anyio.to_thread
import msgspec
from litestar import Request, Response, Router, get, post
from litestar.di import Provide
from litestar.params import FromQuery, QueryParameter
from litestar.response import Stream

from api.auth import AuthPrincipal, Principal, provide_principal
from application.audit import AuditFilter, AuditService, Point, parse_point
from application.errors import ValidationError

__all__ = ["audit_router"]

Limit = Annotated[int, QueryParameter(ge=1, le=1000)]


def _audit(request: Request[Any, Any, Any]) -> AuditService:
    return request.app.state.audit  # type: ignore[no-any-return]


def _tenant(principal: Principal, tenant: str | None, min_role: str = "viewer") -> str | None:
    """A platform admin may read every tenant (``tenant`` omitted); everyone else reads their own."""
    wanted = tenant if tenant is not None or principal.role == "platform-admin" else principal.tenant_id
    principal.allow(wanted, min_role)
    return wanted


def _point(name: str, value: str) -> Point:
    try:
        return parse_point(value)
    except ValueError as exc:
        raise ValidationError(f"{name}: a position or an RFC 3339 time ({exc})", field=name) from None


def _time(name: str, value: str | None) -> datetime | None:
    return _point(name, value).time if value else None


@get("/events", sync_to_thread=True, summary="Events in global order, with envelope and payload (secrets masked)")
def events(
    request: Request[Any, Any, Any],
    principal: AuthPrincipal,
    tenant: FromQuery[str | None] = None,
    after: Annotated[int, QueryParameter(ge=0)] = 0,
    limit: Limit = 100,
) -> dict[str, Any]:
    items = _audit(request).feed(AuditFilter(tenant_id=_tenant(principal, tenant)), after, limit)
    return {"items": items, "next_after": items[-1]["position"] if len(items) == limit else None}


@get("/events/stream", summary="Tail the event feed over SSE; resume with Last-Event-ID (a position)")
async def stream_events(
    request: Request[Any, Any, Any],
    principal: AuthPrincipal,
    tenant: FromQuery[str | None] = None,
    after: Annotated[int | None, QueryParameter(ge=0)] = None,
) -> Stream:
    flt = AuditFilter(tenant_id=_tenant(principal, tenant))
    last = request.headers.get("last-event-id")
    position = int(last) if last and last.isdigit() else (after or 0)
    audit, board = _audit(request), request.app.state.runtime.board

    async def tail() -> Any:
        nonlocal position
        yield b": tailing the event log\n\n"
        while True:
            items = await anyio.to_thread.run_sync(audit.feed, flt, position, 200)
            for item in items:
                yield b"id: %d\nevent: event\ndata: " % item["position"] + msgspec.json.encode(item) + b"\n\n"
            if items:
                position = items[-1]["position"]
                continue
            head = board.current()
            reached = await anyio.to_thread.run_sync(board.wait_for, head + 1, 5.0)
            if not reached:
                yield b": keep-alive\n\n"

    return Stream(
        tail(), media_type="text/event-stream", headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )


@get("/audit", sync_to_thread=True, summary="Who changed what, when: filter by actor, entity, type and time")
def audit_log(
    request: Request[Any, Any, Any],
    principal: AuthPrincipal,
    tenant: FromQuery[str | None] = None,
    actor: FromQuery[str | None] = None,
    entity: FromQuery[str | None] = None,
    type: FromQuery[str | None] = None,
    since: FromQuery[str | None] = None,
    until: FromQuery[str | None] = None,
    after: Annotated[int, QueryParameter(ge=0)] = 0,
    limit: Limit = 100,
) -> dict[str, Any]:
    flt = AuditFilter(
        tenant_id=_tenant(principal, tenant),
        actor=actor,
        entity_id=entity,
        event_type=type,
        since=_time("since", since),
        until=_time("until", until),
    )
    items = _audit(request).feed(flt, after, limit)
    return {"items": items, "next_after": items[-1]["position"] if len(items) == limit else None}


@get("/audit/catalog", sync_to_thread=True, summary="A tenant's catalog as it was at a time or position")
def audit_catalog(
    request: Request[Any, Any, Any],
    principal: AuthPrincipal,
    at: FromQuery[str],
    tenant: FromQuery[str | None] = None,
    server: FromQuery[str | None] = None,
) -> dict[str, Any]:
    wanted = _tenant(principal, tenant) or principal.tenant_id
    return _audit(request).catalog(wanted, _point("at", at), server)


@get("/audit/diff", sync_to_thread=True, summary="What was added, changed and removed between two points")
def audit_diff(
    request: Request[Any, Any, Any],
    principal: AuthPrincipal,
    from_: Annotated[str, QueryParameter(name="from")],
    to: FromQuery[str],
    tenant: FromQuery[str | None] = None,
    server: FromQuery[str | None] = None,
) -> dict[str, Any]:
    wanted = _tenant(principal, tenant) or principal.tenant_id
    return _audit(request).diff(wanted, _point("from", from_), _point("to", to), server)


@get("/events/export", summary="Export the log (or one tenant's events) as hash-chained JSON Lines")
async def export_events(
    request: Request[Any, Any, Any], principal: AuthPrincipal, tenant: FromQuery[str | None] = None
) -> Stream:
    wanted = _tenant(principal, tenant, "admin")
    lines = request.app.state.archive.export(wanted)

    async def stream() -> Any:
        while True:
            chunk = await anyio.to_thread.run_sync(lambda: list(itertools.islice(lines, 500)))
            if not chunk:
                return
            yield b"".join(chunk)

    return Stream(
        stream(),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": 'attachment; filename="ledgergate-events.jsonl"'},
    )


@post("/events/import", status_code=200, summary="Verify and import an export (restore into empty, or merge)")
async def import_events(
    request: Request[Any, Any, Any], principal: AuthPrincipal, dry_run: FromQuery[bool] = False
) -> Response[Any]:
    principal.allow(None, "platform-admin")
    body = await request.body()
    report = await anyio.to_thread.run_sync(request.app.state.archive.import_bytes, body, dry_run)
    return Response(content=report, status_code=409 if report["conflicts"] else 200)


audit_router = Router(
    path="/v1",
    tags=["audit"],
    route_handlers=[events, stream_events, audit_log, audit_catalog, audit_diff, export_events, import_events],
    dependencies={"principal": Provide(provide_principal, sync_to_thread=True)},
)
