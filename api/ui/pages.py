"""Read-only pages: the dashboard and the lists, each served from the same queries as the REST API."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from litestar import Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery

from ledgergate.api.ui.access import UiUser
from ledgergate.api.ui.plumbing import run, runtime, viewer
from ledgergate.api.ui.render import html
from ledgergate.api.ui.token_pages import issuable_roles, new_issue_key
from ledgergate.application.audit import AuditFilter
from ledgergate.application.errors import StoreUnavailableError, ValidationError
from ledgergate.application.ports import ItemFilter

__all__ = ["LISTS", "dashboard", "list_page"]

PAGE_SIZE = 50


@dataclass(frozen=True)
class Listing:
    kind: str
    title: str
    min_role: str
    tags: bool = True


LISTS = {
    "tools": Listing("tool", "Tools", "viewer"),
    "resources": Listing("resource", "Resources", "viewer"),
    "prompts": Listing("prompt", "Prompts", "viewer"),
    "servers": Listing("server", "Virtual servers", "viewer"),
    "upstreams": Listing("upstream", "Upstreams", "viewer", tags=False),
    "tokens": Listing("token", "Tokens", "admin", tags=False),
}
UPSTREAM_ITEMS = ("tool", "resource", "prompt")
COUNTED = ("tool", "resource", "prompt", "server", "upstream", "token")


def _enabled(value: str | None) -> bool | None:
    if value in (None, ""):
        return None
    if value in ("true", "false"):
        return value == "true"
    raise ValidationError("enabled: true, false or empty", field="enabled")


#: When this process loaded the UI (with the app, at start): the base of its average rates.
STARTED = time.time()


def _total(metric: Any) -> float:
    return sum(s.value for family in metric.collect() for s in family.samples if s.name.endswith("_total"))


def process_rates(request: Request[Any, Any, Any]) -> dict[str, Any] | None:
    """This process's MCP requests and errors, in total and per minute since it started."""
    metrics = getattr(getattr(request.app.state, "mcp", None), "metrics", None)
    if metrics is None:
        return None
    minutes = max((time.time() - STARTED) / 60, 1 / 60)
    requests, errors = _total(metrics.requests), _total(metrics.errors)
    return {
        "requests": int(requests),
        "errors": int(errors),
        "requests_per_min": round(requests / minutes, 1),
        "errors_per_min": round(errors / minutes, 1),
        "uptime_min": round(minutes, 1),
    }


def health_of(row: dict[str, Any]) -> dict[str, Any]:
    """An upstream's health and when it last changed (the projection keeps the latest transition)."""
    health = row.get("health")
    if isinstance(health, dict):
        return {
            "id": row.get("id"),
            "name": row.get("name"),
            "state": health.get("state") or "unknown",
            "since": health.get("since"),
            "detail": health.get("detail"),
        }
    return {"id": row.get("id"), "name": row.get("name"), "state": health or "unknown", "since": None, "detail": None}


ENTITY_PAGES = {
    "tool": "tools",
    "resource": "resources",
    "prompt": "prompts",
    "server": "servers",
    "upstream": "upstreams",
}


def _change(entry: dict[str, Any], tenant: str) -> dict[str, Any]:
    """An audit entry as the dashboard lists it: the event's own name, and a link to the entity's page."""
    plural = ENTITY_PAGES.get(entry.get("kind") or "")
    href = f"/admin/t/{tenant}/{plural}/{entry['stream_id']}" if plural else None
    return {**entry, "event": str(entry.get("type") or "").rpartition(".")[2], "href": href}


def _dashboard_data(request: Request[Any, Any, Any], user: UiUser, tenant: str) -> dict[str, Any]:
    rt = runtime(request)
    hot = rt.hot
    rows = [] if hot is None else [r for kind in COUNTED for r in hot.rows_of_kind(kind) if r["tenant_id"] == tenant]
    counts = {kind: sum(1 for r in rows if r["kind"] == kind) for kind in COUNTED}
    try:
        head = rt.registry.recorder.max_notification_id() or 0
    except StoreUnavailableError:
        head = None
    catalog_at = rt.board.current()
    audit_at = rt.audit_log.positions.current()
    recent = [
        _change(entry, tenant)
        for entry in rt.audit_log.feed(AuditFilter(tenant_id=tenant), max(0, audit_at - 500), 500)[-15:][::-1]
    ]
    upstreams, _ = rt.queries.list(tenant, "upstream", ItemFilter(), None, 100)
    return {
        "counts": counts,
        "head": head,
        "positions": {"catalog": catalog_at, "audit": audit_at},
        "recent": recent,
        "upstreams": [health_of(row) for row in upstreams],
        # every tenant's traffic: platform admins only, as /metrics
        "rates": process_rates(request) if user.may("platform-admin") else None,
    }


@get("/", include_in_schema=False)
async def dashboard(request: Request[Any, Any, Any], tenant: FromQuery[str | None] = None) -> Response[str]:
    user = await viewer(request)
    wanted = user.tenant(tenant)
    data = await run(_dashboard_data, request, user, wanted)
    return html("dashboard.html", user=user, tenant=wanted, **data)


def _list(request: Request[Any, Any, Any], tenant: str | None, kind: str, params: dict[str, Any]) -> dict[str, Any]:
    flt = ItemFilter(
        enabled=_enabled(params.get("enabled")),
        tag=params.get("tag") or None,
        name_prefix=params.get("q") or None,
        upstream_id=params.get("upstream") or None,
    )
    queries = runtime(request).queries
    items, next_cursor = queries.list(tenant, kind, flt, params.get("cursor") or None, PAGE_SIZE, params.get("at"))
    # the upstreams a catalog list can be narrowed to (items they brought)
    upstreams = queries.list(tenant, "upstream", ItemFilter(), None, 200)[0] if kind in UPSTREAM_ITEMS else []
    return {"items": items, "next_cursor": next_cursor, "upstreams": upstreams}


def _params(
    q: str | None, enabled: str | None, tag: str | None, cursor: str | None, at: int | None, upstream: str | None = None
) -> dict[str, Any]:
    return {
        "q": q or "",
        "enabled": enabled or "",
        "tag": tag or "",
        "cursor": cursor or "",
        "at": at,
        "upstream": upstream or "",
    }


@get("/t/{tenant:str}/{plural:str}", include_in_schema=False)
async def list_page(
    request: Request[Any, Any, Any],
    tenant: FromPath[str],
    plural: FromPath[str],
    q: FromQuery[str | None] = None,
    enabled: FromQuery[str | None] = None,
    tag: FromQuery[str | None] = None,
    cursor: FromQuery[str | None] = None,
    at: FromQuery[int | None] = None,
    upstream: FromQuery[str | None] = None,
) -> Response[str]:
    user = await viewer(request)
    listing = LISTS.get(plural)
    if listing is None:
        raise NotFoundException(f"no list named {plural!r}")
    user.principal.allow(tenant, listing.min_role)
    params = _params(q, enabled, tag, cursor, at, upstream)
    data = await run(_list, request, tenant, listing.kind, params)
    roles = issuable_roles(user) if plural == "tokens" else []
    issue_key = new_issue_key() if plural == "tokens" else ""
    return html(
        "list.html",
        user=user,
        tenant=tenant,
        plural=plural,
        listing=listing,
        params=params,
        roles=roles,
        issue_key=issue_key,
        **data,
    )
