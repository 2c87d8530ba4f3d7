"""An upstream's page: its settings (secrets masked), health and when it last changed, what it brought
into the catalog, its events; enable, disable, delete (admins) and refresh (editors), through the same
use cases as ``/v1/tenants/{tenant}/upstreams``."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from litestar import Request, Response
from litestar.exceptions import NotFoundException

from ledgergate.api.ui.access import UiUser, ui_state
from ledgergate.api.ui.pages import health_of
from ledgergate.api.ui.plumbing import posted, redirect, run, runtime, viewer
from ledgergate.api.ui.render import html
from ledgergate.api.ui.reports import open_report, seal_report
from ledgergate.api.ui.upstream_health import health_history
from ledgergate.application.audit import AuditFilter
from ledgergate.application.errors import UpstreamUnavailableError
from ledgergate.application.ports import ItemFilter

__all__ = ["report_redirect", "upstream_action", "upstream_page"]

#: action -> the role it needs (as on REST)
ACTIONS = {"enable": "admin", "disable": "admin", "delete": "admin", "refresh": "editor"}
ITEM_KINDS = ("tool", "resource", "prompt")


def _upstream(request: Request[Any, Any, Any], tenant: str, item_id: str, at: int | None) -> dict[str, Any]:
    rt = runtime(request)
    upstream = rt.queries.get(tenant, "upstream", item_id, at)
    # the audit log is its own projection: it too waits for the position of the user's last write
    events = rt.audit_log.feed(AuditFilter(tenant_id=tenant, entity_id=item_id), 0, 200, at)
    prefix = upstream.get("prefix") or {}
    # prefixed tool and prompt names make them one name range; resources (named by their URI's upstream
    # name) and unprefixed items: the first page of the kind is scanned
    name_prefix = upstream["name"] + prefix.get("separator", "__") if prefix.get("enabled") else None
    items = {}
    for kind in ITEM_KINDS:
        flt = ItemFilter(name_prefix=name_prefix if kind != "resource" else None)
        rows, _ = rt.queries.list(tenant, kind, flt, None, 500)
        items[kind] = [row for row in rows if (row.get("source") or {}).get("upstream_id") == item_id]
    settings = {k: v for k, v in upstream.items() if k not in ("health", "items") and v not in (None, [], {}, "")}
    return {
        "upstream": upstream,
        "health": health_of(upstream),
        "events": events[::-1],
        "health_history": health_history(events),
        "items": items,
        "settings": settings,
    }


async def upstream_page(
    request: Request[Any, Any, Any], tenant: str, item_id: str, at: int | None, report: str | None = None
) -> Response[str]:
    """The page; ``report`` is a sealed discovery or refresh report (the redirect after the form carries it)."""
    user = await viewer(request)
    user.principal.allow(tenant, "viewer")
    opened = open_report(ui_state(request).signer, report)
    title, found = opened if opened is not None else ("", None)
    data = await run(_upstream, request, tenant, item_id, at)
    return html("upstream.html", user=user, tenant=tenant, item_id=item_id, report=found, report_title=title, **data)


def report_redirect(
    request: Request[Any, Any, Any], tenant: str, item_id: str, at: int | None, report: dict[str, Any], title: str
) -> Response[Any]:
    """POST, redirect, GET: the upstream's page read at the write's position, with what the write found,
    so reloading it shows the same page and never repeats the write."""
    sealed = seal_report(ui_state(request).signer, title, report)
    where = f"?at={at}&report={quote(sealed)}" if at is not None else f"?report={quote(sealed)}"
    return redirect(f"/t/{tenant}/upstreams/{item_id}{where}")


def _change(request: Request[Any, Any, Any], user: UiUser, tenant: str, item_id: str, action: str) -> Any:
    return runtime(request).registry.change_upstream(user.principal.envelope(tenant), item_id, action)


async def upstream_action(request: Request[Any, Any, Any], tenant: str, item_id: str, action: str) -> Response[Any]:
    if action not in ACTIONS:
        raise NotFoundException(f"no action {action!r}")
    user, _ = await posted(request)
    user.principal.allow(tenant, ACTIONS[action])
    if action == "refresh":
        try:
            result, report = await request.app.state.upstreams.refresh(user.principal.envelope(tenant), item_id)
        except UpstreamUnavailableError as exc:  # shown on the upstream's page: nothing was written
            data = await run(_upstream, request, tenant, item_id, None)
            return html(
                "upstream.html",
                502,
                user=user,
                tenant=tenant,
                item_id=item_id,
                report=None,
                report_title="",
                refresh_error=exc.detail,
                **data,
            )
        at = result.position if result is not None else None
        return report_redirect(request, tenant, item_id, at, report, "Refresh")
    written = await run(_change, request, user, tenant, item_id, action)
    if action == "delete":
        return redirect(f"/t/{tenant}/upstreams?at={written.position}")
    return redirect(f"/t/{tenant}/upstreams/{item_id}?at={written.position}")
