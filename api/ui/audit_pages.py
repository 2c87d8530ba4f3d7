"""The audit page: the log with filters, and a tenant's catalog as it was at a moment with what changed
since then. The same queries as ``/v1/audit``, ``/v1/audit/catalog`` and ``/v1/audit/diff``."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.params import FromQuery

from ledgergate.api.controllers.audit import point_param
from ledgergate.api.positions import After
from ledgergate.api.ui.plumbing import run, runtime, viewer
from ledgergate.api.ui.render import html
from ledgergate.application.audit import AuditFilter, diff_catalogs

__all__ = ["audit_page"]

PAGE = 100
FILTERS = ("actor", "kind", "type", "entity", "since", "until")


def _audit(request: Request[Any, Any, Any], tenant: str, params: dict[str, str], after: int) -> dict[str, Any]:
    rt = runtime(request)
    flt = AuditFilter(
        tenant_id=tenant,
        actor=params["actor"] or None,
        entity_id=params["entity"] or None,
        entity_kind=params["kind"] or None,
        event_type=params["type"] or None,
        since=point_param("since", params["since"]).time if params["since"] else None,
        until=point_param("until", params["until"]).time if params["until"] else None,
    )
    entries = rt.audit_log.feed(flt, after, PAGE)
    moment: dict[str, Any] | None = None
    if params["at"]:
        then = rt.audit.catalog(tenant, point_param("at", params["at"]))
        now = rt.audit.catalog(tenant, point_param("to", str(rt.audit_log.positions.current())))
        moment = {"catalog": then, "diff": diff_catalogs(then, now)}
    return {
        "head": rt.audit_log.positions.current(),
        "entries": entries,
        "next_after": entries[-1]["position"] if len(entries) == PAGE else None,
        "moment": moment,
    }


@get("/audit", include_in_schema=False)
async def audit_page(
    request: Request[Any, Any, Any],
    tenant: FromQuery[str | None] = None,
    actor: FromQuery[str | None] = None,
    kind: FromQuery[str | None] = None,
    type: FromQuery[str | None] = None,
    entity: FromQuery[str | None] = None,
    since: FromQuery[str | None] = None,
    until: FromQuery[str | None] = None,
    at: FromQuery[str | None] = None,
    after: After = 0,
) -> Response[str]:
    user = await viewer(request)
    wanted = user.tenant(tenant)
    given = {"actor": actor, "kind": kind, "type": type, "entity": entity, "since": since, "until": until, "at": at}
    params = {name: (value or "").strip() for name, value in given.items()}
    data = await run(_audit, request, wanted, params, after)
    return html("audit.html", user=user, tenant=wanted, params=params, **data)
