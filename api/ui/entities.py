"""An entity's page (its fields and its history with field diffs) and the writes it offers: enable,
disable, delete and revert, each through the registry's use cases with the signed-in user as actor."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery

from ledgergate.api.ui.composer import compose, composer_data
from ledgergate.api.ui.diffs import timeline
from ledgergate.api.ui.plumbing import form_int, posted, redirect, run, runtime, viewer
from ledgergate.api.ui.render import html
from ledgergate.api.ui.token_pages import revoke_token
from ledgergate.api.ui.upstream_pages import upstream_action, upstream_page
from ledgergate.application.errors import ValidationError
from ledgergate.application.registry import KINDS

__all__ = ["entity_action", "entity_page"]

CATALOG = {"tools": "tool", "resources": "resource", "prompts": "prompt", "servers": "server"}
ACTIONS = ("enable", "disable", "delete", "revert")


FIRST = ("name", "uri", "title", "description", "tags", "input_schema", "output_schema", "integration", "template")
META = frozenset({"id", "tenant_id", "enabled", "version", "position", "created_at", "updated_at", "updated_by"})


def shown_fields(item: dict[str, Any]) -> list[tuple[str, Any, bool]]:
    """The fields an entity page lists: the usual ones first, empty ones left out; (name, value, structured)."""
    names = [n for n in FIRST if n in item] + sorted(n for n in item if n not in FIRST and n not in META)
    return [
        (name, item[name], isinstance(item[name], dict | list))
        for name in names
        if item[name] not in (None, [], {}, "")
    ]


def _kind(plural: str) -> str:
    kind = CATALOG.get(plural)
    if kind is None:
        raise NotFoundException(f"no entity pages for {plural!r}")
    return kind


def _entity(
    request: Request[Any, Any, Any], tenant: str, kind: str, item_id: str, at: int | None, find: str, q: str
) -> dict[str, Any]:
    rt = runtime(request)
    versions = rt.queries.history(tenant, KINDS[kind], item_id)
    rt.queries.wait_for(at)
    row = rt.catalog.get_item(tenant, kind, item_id)
    item = rt.queries.get(tenant, kind, item_id) if row is not None else None
    composer = composer_data(request, tenant, item, find, q) if kind == "server" and item else None
    return {
        "item": item,
        "composer": composer,
        "fields": shown_fields(item) if item else [],
        "steps": timeline(versions),
        "latest": versions[-1]["version"] if versions else 0,
    }


@get("/t/{tenant:str}/{plural:str}/{item_id:str}", include_in_schema=False)
async def entity_page(
    request: Request[Any, Any, Any],
    tenant: FromPath[str],
    plural: FromPath[str],
    item_id: FromPath[str],
    at: FromQuery[int | None] = None,
    find: FromQuery[str | None] = None,
    q: FromQuery[str | None] = None,
    report: FromQuery[str | None] = None,
) -> Response[str]:
    if plural == "upstreams":
        return await upstream_page(request, tenant, item_id, at, report)
    user = await viewer(request)
    kind = _kind(plural)
    user.principal.allow(tenant, "viewer")
    data = await run(_entity, request, tenant, kind, item_id, at, find or "", (q or "").strip())
    return html("entity.html", user=user, tenant=tenant, plural=plural, kind=kind, item_id=item_id, **data)


def _apply(request: Request[Any, Any, Any], user: Any, tenant: str, kind: str, item_id: str, action: str, form: Any):
    registry = runtime(request).registry
    envelope = user.principal.envelope(tenant)
    if action == "revert":
        version = form_int(form, "version")
        if version is None:
            raise ValidationError("version: the number of a version in the history", field="version")
        return registry.revert_entity(envelope, kind, item_id, version)
    return registry.change_entity(envelope, kind, item_id, action, form_int(form, "expected_version"))


@post("/t/{tenant:str}/{plural:str}/{item_id:str}/{action:str}", include_in_schema=False)
async def entity_action(
    request: Request[Any, Any, Any],
    tenant: FromPath[str],
    plural: FromPath[str],
    item_id: FromPath[str],
    action: FromPath[str],
) -> Response[Any]:
    if plural == "tokens" and action == "revoke":
        return await revoke_token(request, tenant, item_id)
    if plural == "upstreams":
        return await upstream_action(request, tenant, item_id, action)
    if plural == "servers" and action == "compose":
        return await compose(request, tenant, item_id)
    kind = _kind(plural)
    if action not in ACTIONS:
        raise NotFoundException(f"no action {action!r}")
    user, form = await posted(request)
    user.principal.allow(tenant, "editor")
    written = await run(_apply, request, user, tenant, kind, item_id, action, form)
    return redirect(f"/t/{tenant}/{plural}/{item_id}?at={written.position}")
