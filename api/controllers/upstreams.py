"""Upstream MCP servers of a tenant: register (with discovery), list, get, change, refresh, enable, disable, delete."""

from typing import Annotated, Any

from litestar import Request, Response, Router, delete, get, patch, post
from litestar.di import Provide
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from ledgergate.api.auth import AuthPrincipal, provide_principal
from ledgergate.api.controllers.catalog import expected_version
from ledgergate.api.controllers.responses import Cursor, page, written
from ledgergate.api.openapi import documented, problems
from ledgergate.api.schemas import UpstreamCreate, UpstreamUpdate, to_fields
from ledgergate.application.ports import ItemFilter

__all__ = ["upstreams_router"]


def _runtime(request: Request[Any, Any, Any]) -> Any:
    return request.app.state.runtime


@post(
    "/",
    status_code=201,
    summary="Register an upstream: connect, discover its catalog, record it all at once",
    responses=problems(502),
)
async def register_upstream(
    request: Request[Any, Any, Any], tenant: FromPath[str], principal: AuthPrincipal, data: JSONBody[UpstreamCreate]
) -> Response[Any]:
    principal.allow(tenant, "admin")
    if data.transport == "stdio":  # it runs a command on the gateway's host: not something a tenant may do
        principal.allow(None, "platform-admin")
    result, report = await request.app.state.upstreams.register(principal.envelope(tenant), to_fields(data))
    return written(result, 201, report=report)


@get("/", sync_to_thread=True, summary="List upstreams")
def list_upstreams(
    request: Request[Any, Any, Any],
    tenant: FromPath[str],
    principal: AuthPrincipal,
    enabled: FromQuery[bool | None] = None,
    name_prefix: FromQuery[str | None] = None,
    cursor: Cursor = None,
    limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
    min_position: Annotated[int | None, QueryParameter(ge=0)] = None,
) -> dict[str, Any]:
    principal.allow(tenant, "viewer")
    items, next_cursor = _runtime(request).queries.list(
        tenant, "upstream", ItemFilter(enabled=enabled, name_prefix=name_prefix), cursor, limit, min_position
    )
    return page(items, next_cursor)


@get("/{item_id:str}", sync_to_thread=True, summary="Get an upstream (secrets masked)")
def get_upstream(
    request: Request[Any, Any, Any],
    tenant: FromPath[str],
    item_id: FromPath[str],
    principal: AuthPrincipal,
    min_position: Annotated[int | None, QueryParameter(ge=0)] = None,
) -> dict[str, Any]:
    principal.allow(tenant, "viewer")
    return _runtime(request).queries.get(tenant, "upstream", item_id, min_position)  # type: ignore[no-any-return]


@patch(
    "/{item_id:str}",
    sync_to_thread=True,
    summary="Change an upstream's settings",
    description="Only the fields given. With `If-Match: <version>` the change is refused (409) when the "
    "upstream's settings changed after that version (an update, enable, disable or delete); the health "
    "transitions and catalog syncs recorded since leave the version good.",
)
def update_upstream(
    request: Request[Any, Any, Any],
    tenant: FromPath[str],
    item_id: FromPath[str],
    principal: AuthPrincipal,
    data: JSONBody[UpstreamUpdate],
) -> Response[Any]:
    principal.allow(tenant, "admin")
    fields = to_fields(data)
    if {"command", "args", "env", "cwd"} & fields.keys():  # what a stdio upstream runs on the gateway's host
        principal.allow(None, "platform-admin")
    registry = _runtime(request).registry
    envelope = principal.envelope(tenant)
    return written(registry.update_upstream(envelope, item_id, fields, expected_version(request)))


@post(
    "/{item_id:str}/refresh",
    status_code=200,
    summary="Rediscover; answers what was added, changed and removed",
    responses=problems(502),
)
async def refresh_upstream(
    request: Request[Any, Any, Any], tenant: FromPath[str], item_id: FromPath[str], principal: AuthPrincipal
) -> Response[Any]:
    principal.allow(tenant, "editor")
    result, report = await request.app.state.upstreams.refresh(principal.envelope(tenant), item_id)
    if result is None:
        return Response(content={"id": item_id, "appended": False, **report}, status_code=200)
    return written(result, appended=True, **report)


def _lifecycle(action: str) -> Any:
    def handler(
        request: Request[Any, Any, Any], tenant: FromPath[str], item_id: FromPath[str], principal: AuthPrincipal
    ) -> Response[Any]:
        principal.allow(tenant, "admin")
        return written(_runtime(request).registry.change_upstream(principal.envelope(tenant), item_id, action))

    handler.__name__ = f"{action}_upstream"
    return handler


enable_upstream = post(
    "/{item_id:str}/enable",
    sync_to_thread=True,
    status_code=200,
    summary="Enable an upstream and the items its disable switched off",
)(_lifecycle("enable"))
disable_upstream = post(
    "/{item_id:str}/disable", sync_to_thread=True, status_code=200, summary="Disable an upstream and its items"
)(_lifecycle("disable"))
delete_upstream = delete(
    "/{item_id:str}", sync_to_thread=True, status_code=200, summary="Delete an upstream and its items"
)(_lifecycle("delete"))

upstreams_router = documented(
    Router(
        path="/v1/tenants/{tenant:str}/upstreams",
        tags=["upstreams"],
        route_handlers=[
            register_upstream,
            list_upstreams,
            get_upstream,
            update_upstream,
            refresh_upstream,
            enable_upstream,
            disable_upstream,
            delete_upstream,
        ],
        dependencies={"principal": Provide(provide_principal, sync_to_thread=True)},
    )
)
