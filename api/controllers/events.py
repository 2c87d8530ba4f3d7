"""The event feed (paged and live over SSE) and export/import of the log."""

from __future__ import annotations

from typing import Annotated, Any

import anyio.to_thread
import msgspec
from litestar import Request, Response, Router, get, post
from litestar.di import Provide
from litestar.params import FromQuery, QueryParameter
from litestar.response import Stream

from ledgergate.api.auth import AuthPrincipal, provide_principal, readable_tenant
from ledgergate.api.controllers.audit import point_param
from ledgergate.api.controllers.catalog import MinPosition
from ledgergate.api.openapi import documented, problems
from ledgergate.api.positions import After, OptionalAfter, parse_position
from ledgergate.api.streaming import in_chunks, position_reached
from ledgergate.application.archive_service import PLATFORM as PLATFORM_TENANT
from ledgergate.application.archive_service import export_range
from ledgergate.application.audit import AuditFilter

__all__ = ["events_router"]

Limit = Annotated[int, QueryParameter(ge=1, le=1000)]


@get("/events", sync_to_thread=True, summary="Events in global order, with envelope and payload (secrets masked)")
def events(
    request: Request[Any, Any, Any],
    principal: AuthPrincipal,
    tenant: FromQuery[str | None] = None,
    after: After = 0,
    limit: Limit = 100,
    min_position: MinPosition = None,
) -> dict[str, Any]:
    flt = AuditFilter(tenant_id=readable_tenant(principal, tenant))
    items = request.app.state.runtime.audit_log.feed(flt, after, limit, min_position)
    return {"items": items, "next_after": items[-1]["position"] if len(items) == limit else None}


@get(
    "/events/stream",
    summary="Tail the event feed over SSE; resume with Last-Event-ID (a position)",
    media_type="text/event-stream",
)
async def stream_events(
    request: Request[Any, Any, Any],
    principal: AuthPrincipal,
    tenant: FromQuery[str | None] = None,
    after: OptionalAfter = None,
) -> Stream:
    flt = AuditFilter(tenant_id=readable_tenant(principal, tenant))
    resumed = parse_position(request.headers.get("last-event-id"))
    position = resumed if resumed is not None else (after or 0)
    audit = request.app.state.runtime.audit_log
    board = audit.positions  # the audit log projection's progress

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
            reached = await position_reached(board, head + 1, 5.0)
            if not reached:
                yield b": keep-alive\n\n"

    return Stream(
        tail(), media_type="text/event-stream", headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )


#: Carries the passphrase that wraps (export) or unwraps (import) a tenant's data key; platform admins only.
PASSPHRASE_HEADER = "x-ledgergate-passphrase"  # noqa: S105 - a header name, not a secret


def _passphrase(request: Request[Any, Any, Any], principal: AuthPrincipal) -> str | None:
    passphrase = request.headers.get(PASSPHRASE_HEADER)
    if passphrase is not None:
        principal.allow(None, "platform-admin")
    return passphrase


@get(
    "/events/export",
    summary="Export the log (or one tenant's events) as hash-chained JSON Lines; with X-Ledgergate-Passphrase "
    "the tenant's data key travels wrapped in the header",
    media_type="application/x-ndjson",
)
async def export_events(
    request: Request[Any, Any, Any],
    principal: AuthPrincipal,
    tenant: FromQuery[str | None] = None,
    from_: Annotated[str | None, QueryParameter(name="from")] = None,
    to: FromQuery[str | None] = None,
) -> Stream:
    wanted = readable_tenant(principal, tenant, "admin")
    passphrase = _passphrase(request, principal)
    archive = request.app.state.runtime.archive
    bounds = export_range(point_param("from", from_) if from_ else None, point_param("to", to) if to else None)
    lines = await anyio.to_thread.run_sync(
        lambda: archive.export(wanted, with_keys=passphrase is not None, passphrase=passphrase, **bounds)
    )

    return Stream(
        in_chunks(lines),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": 'attachment; filename="ledgergate-events.jsonl"'},
    )


@post(
    "/events/import",
    status_code=200,
    summary="Verify and import an export in one transaction (restore into empty, or merge); "
    "X-Ledgergate-Passphrase opens a data key the file carries",
    responses=problems(413),
)
async def import_events(
    request: Request[Any, Any, Any], principal: AuthPrincipal, dry_run: FromQuery[bool] = False
) -> Response[Any]:
    principal.allow(None, "platform-admin")
    passphrase = _passphrase(request, principal)
    body = await request.body()
    actor = principal.envelope(PLATFORM_TENANT).actor  # recorded with the import, as its importer
    report = await anyio.to_thread.run_sync(
        request.app.state.runtime.archive.import_bytes, body, dry_run, passphrase, actor
    )
    return Response(content=report, status_code=409 if report["conflicts"] else 200)


events_router = documented(
    Router(
        path="/v1",
        tags=["events"],
        route_handlers=[events, stream_events, export_events, import_events],
        dependencies={"principal": Provide(provide_principal, sync_to_thread=True)},
    )
)
