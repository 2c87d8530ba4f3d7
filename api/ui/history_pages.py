"""History pages of upstreams and tokens: every version of the entity as a timeline (event, actor, time,
field diffs), read from its event stream by the same query as the catalog's ``/history`` (secrets
masked). Neither offers a revert: the REST API reverts catalog entities only (an upstream's items come
from the upstream, a token's grant is revoked and issued anew)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery

from ledgergate.api.ui.diffs import timeline
from ledgergate.api.ui.plumbing import run, runtime, viewer
from ledgergate.api.ui.render import html
from ledgergate.domain.api_token import ApiToken
from ledgergate.domain.upstream import Upstream

__all__ = ["history_page"]

#: plural -> (aggregate, the role that may see it: as its REST list)
HISTORIES: dict[str, tuple[Any, str]] = {"upstreams": (Upstream, "viewer"), "tokens": (ApiToken, "admin")}
#: events that change one field without carrying it
_MARKS = {"Revoked": {"revoked": True}}


#: at most this many names of a sync's added or removed items are listed (the count is always given)
NAMES_SHOWN = 50


def _names(entries: list[dict[str, str]]) -> str:
    names = [f"{e.get('kind')} {e.get('original')}" for e in entries]
    shown = ", ".join(sorted(names)[:NAMES_SHOWN])
    return shown + (f" and {len(names) - NAMES_SHOWN} more" if len(names) > NAMES_SHOWN else "")


def _noted(version: dict[str, Any]) -> dict[str, Any]:
    """A version whose event implies a field change the timeline shows (a token's revocation)."""
    implied = _MARKS.get(version["event"])
    return {**version, "changes": implied} if implied is not None and "changes" not in version else version


def _upstream_details(versions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """An upstream's own events told in words: a health transition's state and detail, what a sync added
    and removed (by kind and original name), which items a disable switched off."""
    items: dict[str, dict[str, str]] = {}
    out = []
    for version in versions:
        if "health" in version:
            health = version.pop("health") or {}
            version = {**version, "changes": {"health": health.get("state")}}
            if health.get("detail"):
                version["details"] = [("detail", str(health["detail"]))]
        elif "items" in version:
            now = version.pop("items") or {}
            added = [v for k, v in now.items() if k not in items]
            removed = [v for k, v in items.items() if k not in now]
            details = [("items", f"{len(now)} in all")]
            details += [("added", _names(added))] if added else []
            details += [("removed", _names(removed))] if removed else []
            version = {**version, "details": details}
            items = now
        elif "suspended" in version:
            ids = version.pop("suspended") or []
            text = _names([items.get(i, {"kind": "item", "original": i}) for i in ids]) if ids else "none"
            version = {**version, "details": [("switched off by the disable", text)]}
        out.append(version)
    return out


def _history(request: Request[Any, Any, Any], tenant: str, plural: str, item_id: str, at: int | None) -> dict[str, Any]:
    rt = runtime(request)
    rt.queries.wait_for(at)  # the page follows the user's last write
    cls, _ = HISTORIES[plural]
    versions = [_noted(v) for v in rt.queries.history(tenant, cls, item_id)]
    if cls is Upstream:
        versions = _upstream_details(versions)
    row = rt.catalog.get_item(tenant, cls.KIND, item_id)
    first = versions[0].get("fields") or {}
    return {
        "name": (row or {}).get("name") or first.get("name") or item_id,
        "current": row is not None,
        "steps": timeline(versions),
        "latest": versions[-1]["version"] if versions else 0,
    }


@get("/t/{tenant:str}/{plural:str}/{item_id:str}/history", include_in_schema=False)
async def history_page(
    request: Request[Any, Any, Any],
    tenant: FromPath[str],
    plural: FromPath[str],
    item_id: FromPath[str],
    at: FromQuery[int | None] = None,
) -> Response[str]:
    user = await viewer(request)
    if plural not in HISTORIES:
        raise NotFoundException(f"no history pages for {plural!r}; a catalog entity's page shows its history")
    user.principal.allow(tenant, HISTORIES[plural][1])
    data = await run(_history, request, tenant, plural, item_id, at)
    return html("history.html", user=user, tenant=tenant, plural=plural, item_id=item_id, **data)
