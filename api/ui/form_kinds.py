"""Which kinds have which form, for the routes ``/t/{tenant}/{plural}/new|check|{id}/edit`` that tools,
resources, prompts, servers and upstreams share (one route per path: Litestar has one handler for it)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response

from ledgergate.api.ui import catalog_forms
from ledgergate.api.ui.catalog_forms import FormSpec
from ledgergate.api.ui.prompt_forms import PROMPT_FORM
from ledgergate.api.ui.resource_forms import RESOURCE_FORM
from ledgergate.api.ui.server_forms import SERVER_FORM
from ledgergate.api.ui.upstream_edit import edit_upstream, edit_upstream_page
from ledgergate.api.ui.upstream_forms import register, register_page

__all__ = ["CATALOG_FORMS", "other_check", "other_create", "other_edit", "other_edit_page", "other_new_page"]

CATALOG_FORMS: dict[str, FormSpec] = {spec.plural: spec for spec in (RESOURCE_FORM, PROMPT_FORM, SERVER_FORM)}
Answer = Response[Any] | None


async def other_new_page(request: Request[Any, Any, Any], tenant: str, plural: str) -> Answer:
    """The page of a kind other than tools, or None for tools (and unknown kinds)."""
    if plural == "upstreams":
        return await register_page(request, tenant)
    spec = CATALOG_FORMS.get(plural)
    return await catalog_forms.new_page(request, tenant, spec) if spec else None


async def other_create(request: Request[Any, Any, Any], tenant: str, plural: str) -> Answer:
    if plural == "upstreams":
        return await register(request, tenant)
    spec = CATALOG_FORMS.get(plural)
    return await catalog_forms.create(request, tenant, spec) if spec else None


async def other_check(request: Request[Any, Any, Any], tenant: str, plural: str) -> Answer:
    spec = CATALOG_FORMS.get(plural)
    return await catalog_forms.check(request, tenant, spec) if spec else None


async def other_edit_page(
    request: Request[Any, Any, Any], tenant: str, plural: str, item_id: str, at: int | None
) -> Answer:
    if plural == "upstreams":
        return await edit_upstream_page(request, tenant, item_id, at)
    spec = CATALOG_FORMS.get(plural)
    return await catalog_forms.edit_page(request, tenant, spec, item_id, at) if spec else None


async def other_edit(request: Request[Any, Any, Any], tenant: str, plural: str, item_id: str) -> Answer:
    if plural == "upstreams":
        return await edit_upstream(request, tenant, item_id)
    spec = CATALOG_FORMS.get(plural)
    return await catalog_forms.edit(request, tenant, spec, item_id) if spec else None
