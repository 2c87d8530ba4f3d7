"""Tenants for platform admins: list, create, rename, enable, disable, delete and crypto-shred, through
the same use cases as ``/v1/tenants`` (``Registry.create_tenant`` and ``change_tenant``) with the
signed-in token as actor."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from litestar import Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery

from ledgergate.api.errors import STATUS
from ledgergate.api.ui.access import UiUser
from ledgergate.api.ui.plumbing import form_int, posted, redirect, run, runtime, viewer
from ledgergate.api.ui.render import html
from ledgergate.application.errors import ApplicationError, ValidationError
from ledgergate.application.ports import ItemFilter
from ledgergate.application.registry import PLATFORM_TENANT

__all__ = ["create_tenant", "tenant_action", "tenants_page"]

PAGE_SIZE = 50
#: the actions of ``/v1/tenants/{tenant}``; delete and shred need the slug typed again
ACTIONS = ("update", "enable", "disable", "delete", "shred")
CONFIRMED = ("delete", "shred")
DONE = {"update": "updated", "enable": "enabled", "disable": "disabled", "delete": "deleted", "shred": "shredded"}


def _text(form: dict[str, Any], name: str) -> str | None:
    return str(form.get(name) or "").strip() or None


def _enabled(value: str | None) -> bool | None:
    if value in (None, ""):
        return None
    if value in ("true", "false"):
        return value == "true"
    raise ValidationError("enabled: true, false or empty", field="enabled")


def _tenants(request: Request[Any, Any, Any], params: dict[str, Any]) -> dict[str, Any]:
    flt = ItemFilter(enabled=_enabled(params["enabled"]), name_prefix=params["q"] or None)
    items, next_cursor = runtime(request).queries.list(
        None, "tenant", flt, params["cursor"] or None, PAGE_SIZE, params["at"]
    )
    return {"items": items, "next_cursor": next_cursor}


async def _page(
    request: Request[Any, Any, Any], user: UiUser, params: dict[str, Any], status: int = 200, **extra: Any
) -> Response[str]:
    data = await run(_tenants, request, params)
    context = {"error": None, "form": {}, "done": None, **extra}
    return html("tenants.html", status, user=user, tenant=user.principal.tenant_id, params=params, **data, **context)


@get("/tenants", include_in_schema=False)
async def tenants_page(
    request: Request[Any, Any, Any],
    q: FromQuery[str | None] = None,
    enabled: FromQuery[str | None] = None,
    cursor: FromQuery[str | None] = None,
    at: FromQuery[int | None] = None,
    done: FromQuery[str | None] = None,
    name: FromQuery[str | None] = None,
) -> Response[str]:
    user = await viewer(request)
    user.principal.allow(None, "platform-admin")
    params = {"q": q or "", "enabled": enabled or "", "cursor": cursor or "", "at": at}
    known = done in DONE.values() or done == "created"  # only the words this module writes
    return await _page(request, user, params, done=f"Tenant {name} {done}." if known and name else None)


def _create(request: Request[Any, Any, Any], user: UiUser, form: dict[str, Any]) -> Any:
    fields = {
        "name": str(form.get("name") or "").strip(),
        "display_name": _text(form, "display_name"),
        "description": _text(form, "description"),
    }
    return runtime(request).registry.create_tenant(user.principal.envelope(PLATFORM_TENANT), fields)


@post("/tenants/new", include_in_schema=False)
async def create_tenant(request: Request[Any, Any, Any]) -> Response[Any]:
    user, form = await posted(request)
    user.principal.allow(None, "platform-admin")
    try:
        written = await run(_create, request, user, form)
    except ApplicationError as exc:
        if exc.problem == "forbidden":
            raise
        params = {"q": "", "enabled": "", "cursor": "", "at": None}
        status = next((code for cls, code in STATUS.items() if isinstance(exc, cls)), 422)
        return await _page(request, user, params, status, error=exc.detail, form=form)
    name = str(form.get("name") or "").strip()
    return redirect(f"/tenants?at={written.position}&done=created&name={quote(name)}")


def _change(request: Request[Any, Any, Any], user: UiUser, slug: str, action: str, form: dict[str, Any]) -> Any:
    if action in CONFIRMED and str(form.get("confirm") or "").strip() != slug:
        raise ValidationError(f"type the tenant's name ({slug}) to confirm", field="confirm")
    fields = None
    if action == "update":
        fields = {"display_name": _text(form, "display_name"), "description": _text(form, "description")}
    registry = runtime(request).registry
    envelope = user.principal.envelope(PLATFORM_TENANT)
    return registry.change_tenant(
        envelope,
        slug,
        "delete" if action == "shred" else action,
        fields,
        form_int(form, "expected_version"),
        shred=action == "shred",
    )


@post("/tenants/{slug:str}/{action:str}", include_in_schema=False)
async def tenant_action(request: Request[Any, Any, Any], slug: FromPath[str], action: FromPath[str]) -> Response[Any]:
    if action not in ACTIONS:
        raise NotFoundException(f"no action {action!r}")
    user, form = await posted(request)
    user.principal.allow(None, "platform-admin")
    written = await run(_change, request, user, slug, action, form)
    return redirect(f"/tenants?at={written.position}&done={DONE[action]}&name={quote(slug)}")
