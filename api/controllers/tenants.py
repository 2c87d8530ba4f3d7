"""Tenants: platform admins create and change them; a tenant's own tokens may read it."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, Router, delete, get, patch, post
from litestar.di import Provide
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from ledgergate.api.auth import AuthPrincipal, provide_principal
from ledgergate.api.controllers.catalog import expected_version
from ledgergate.api.controllers.responses import Cursor, page, written
from ledgergate.api.openapi import documented
from ledgergate.api.schemas import TenantCreate, TenantUpdate, to_fields
from ledgergate.application.ports import ItemFilter
from ledgergate.application.registry import PLATFORM_TENANT

__all__ = ["tenants_router"]


def _envelope(principal: AuthPrincipal) -> Any:
    return principal.envelope(PLATFORM_TENANT)


@post("/", sync_to_thread=True, status_code=201, summary="Create a tenant")
def create_tenant(
    request: Request[Any, Any, Any], principal: AuthPrincipal, data: JSONBody[TenantCreate]
) -> Response[Any]:
    principal.allow(None, "platform-admin")
    return written(request.app.state.runtime.registry.create_tenant(_envelope(principal), to_fields(data)), 201)


@get("/", sync_to_thread=True, summary="List tenants")
def list_tenants(
    request: Request[Any, Any, Any],
    principal: AuthPrincipal,
    enabled: FromQuery[bool | None] = None,
    name_prefix: FromQuery[str | None] = None,
    cursor: Cursor = None,
    limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
    min_position: Annotated[int | None, QueryParameter(ge=0)] = None,
) -> dict[str, Any]:
    principal.allow(None, "platform-admin")
    items, next_cursor = request.app.state.runtime.queries.list(
        None, "tenant", ItemFilter(enabled=enabled, name_prefix=name_prefix), cursor, limit, min_position
    )
    return page(items, next_cursor)


@get("/{tenant:str}", sync_to_thread=True, summary="Get a tenant")
def get_tenant(
    request: Request[Any, Any, Any],
    tenant: FromPath[str],
    principal: AuthPrincipal,
    min_position: Annotated[int | None, QueryParameter(ge=0)] = None,
) -> dict[str, Any]:
    principal.allow(tenant, "viewer")
    return request.app.state.runtime.queries.get_tenant(tenant, min_position)  # type: ignore[no-any-return]


def _change(
    request: Request[Any, Any, Any],
    principal: AuthPrincipal,
    tenant: FromPath[str],
    action: str,
    fields: dict[str, Any] | None = None,
    shred: bool = False,
) -> Response[Any]:
    principal.allow(None, "platform-admin")
    registry = request.app.state.runtime.registry
    result = registry.change_tenant(_envelope(principal), tenant, action, fields, expected_version(request), shred)
    return written(result, shredded=shred) if shred else written(result)


@patch("/{tenant:str}", sync_to_thread=True, summary="Change a tenant")
def update_tenant(
    request: Request[Any, Any, Any], tenant: FromPath[str], principal: AuthPrincipal, data: JSONBody[TenantUpdate]
) -> Response[Any]:
    return _change(request, principal, tenant, "update", to_fields(data))


@post("/{tenant:str}/enable", sync_to_thread=True, status_code=200, summary="Enable a tenant")
def enable_tenant(request: Request[Any, Any, Any], tenant: FromPath[str], principal: AuthPrincipal) -> Response[Any]:
    return _change(request, principal, tenant, "enable")


@post("/{tenant:str}/disable", sync_to_thread=True, status_code=200, summary="Disable a tenant")
def disable_tenant(request: Request[Any, Any, Any], tenant: FromPath[str], principal: AuthPrincipal) -> Response[Any]:
    return _change(request, principal, tenant, "disable")


@delete(
    "/{tenant:str}",
    sync_to_thread=True,
    status_code=200,
    summary="Delete a tenant; ?shred=true also destroys its data key, making its secrets unreadable everywhere",
)
def delete_tenant(
    request: Request[Any, Any, Any], tenant: FromPath[str], principal: AuthPrincipal, shred: FromQuery[bool] = False
) -> Response[Any]:
    return _change(request, principal, tenant, "delete", shred=shred)


tenants_router = documented(
    Router(
        path="/v1/tenants",
        tags=["tenants"],
        route_handlers=[
            create_tenant,
            list_tenants,
            get_tenant,
            update_tenant,
            enable_tenant,
            disable_tenant,
            delete_tenant,
        ],
        dependencies={"principal": Provide(provide_principal, sync_to_thread=True)},
    )
)
