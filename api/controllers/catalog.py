"""Tools, resources, prompts and virtual servers: one router per kind, made by one factory."""

from typing import Annotated, Any

from litestar import Request, Response, Router, delete, get, patch, post
from litestar.di import Provide
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from ledgergate.api.auth import AuthPrincipal, provide_principal
from ledgergate.api.controllers.responses import Cursor, page, written
from ledgergate.api.openapi import documented
from ledgergate.api.runtime import Runtime
from ledgergate.api.schemas import CREATE_BODIES, UPDATE_BODIES, Revert, to_fields
from ledgergate.application.errors import InvalidParameterError
from ledgergate.application.ports import ItemFilter
from ledgergate.application.registry import KINDS

__all__ = ["catalog_routers", "expected_version"]

PLURAL = {"tool": "tools", "resource": "resources", "prompt": "prompts", "server": "servers"}
MinPosition = Annotated[
    int | None, QueryParameter(ge=0, description="wait until the catalog has reached this position")
]


def expected_version(request: Request[Any, Any, Any]) -> int | None:
    """``If-Match: <version>`` makes a write conditional on the entity's current version."""
    raw = request.headers.get("if-match")
    if raw is None:
        return None
    try:
        return int(raw.strip().strip('"'))
    except ValueError:
        raise InvalidParameterError("If-Match must be the entity's version number", field="If-Match") from None


def _runtime(request: Request[Any, Any, Any]) -> Runtime:
    return request.app.state.runtime  # type: ignore[no-any-return]


def _router(kind: str) -> Router:
    create_body = CREATE_BODIES[kind]
    update_body = UPDATE_BODIES[kind]
    cls = KINDS[kind]

    @post("/", sync_to_thread=True, status_code=201, summary=f"Create a {kind}")
    def create(
        request: Request[Any, Any, Any], tenant: FromPath[str], principal: AuthPrincipal, data: JSONBody[create_body]
    ) -> Response[Any]:  # type: ignore[valid-type]
        principal.allow(tenant, "editor")
        result = _runtime(request).registry.create_entity(principal.envelope(tenant), kind, to_fields(data))
        return written(result, 201)

    @get("/", sync_to_thread=True, summary=f"List {PLURAL[kind]}")
    def list_items(
        request: Request[Any, Any, Any],
        tenant: FromPath[str],
        principal: AuthPrincipal,
        enabled: FromQuery[bool | None] = None,
        tag: FromQuery[str | None] = None,
        name_prefix: FromQuery[str | None] = None,
        cursor: Cursor = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
        min_position: MinPosition = None,
    ) -> dict[str, Any]:
        principal.allow(tenant, "viewer")
        items, next_cursor = _runtime(request).queries.list(
            tenant, kind, ItemFilter(enabled=enabled, tag=tag, name_prefix=name_prefix), cursor, limit, min_position
        )
        return page(items, next_cursor)

    @get("/{item_id:str}", sync_to_thread=True, summary=f"Get a {kind}")
    def get_item(
        request: Request[Any, Any, Any],
        tenant: FromPath[str],
        item_id: FromPath[str],
        principal: AuthPrincipal,
        min_position: MinPosition = None,
    ) -> dict[str, Any]:
        principal.allow(tenant, "viewer")
        item = _runtime(request).queries.get(tenant, kind, item_id, min_position)
        if kind == "server":
            item["members"] = _runtime(request).catalog.member_ids(item_id)
        return item

    @patch("/{item_id:str}", sync_to_thread=True, summary=f"Change fields of a {kind}")
    def update(
        request: Request[Any, Any, Any],
        tenant: FromPath[str],
        item_id: FromPath[str],
        principal: AuthPrincipal,
        data: JSONBody[update_body],
    ) -> Response[Any]:  # type: ignore[valid-type]
        principal.allow(tenant, "editor")
        result = _runtime(request).registry.update_entity(
            principal.envelope(tenant), kind, item_id, to_fields(data), expected_version(request)
        )
        return written(result)

    def _lifecycle(action: str) -> Any:
        def handler(
            request: Request[Any, Any, Any], tenant: FromPath[str], item_id: FromPath[str], principal: AuthPrincipal
        ) -> Response[Any]:
            principal.allow(tenant, "editor")
            result = _runtime(request).registry.change_entity(
                principal.envelope(tenant), kind, item_id, action, expected_version(request)
            )
            return written(result)

        handler.__name__ = f"{action}_{kind}"
        return handler

    enable = post("/{item_id:str}/enable", sync_to_thread=True, status_code=200, summary=f"Enable a {kind}")(
        _lifecycle("enable")
    )
    disable = post("/{item_id:str}/disable", sync_to_thread=True, status_code=200, summary=f"Disable a {kind}")(
        _lifecycle("disable")
    )
    remove = delete("/{item_id:str}", sync_to_thread=True, status_code=200, summary=f"Delete a {kind}")(
        _lifecycle("delete")
    )

    @get("/{item_id:str}/history", sync_to_thread=True, summary=f"Every version of a {kind}")
    def history(
        request: Request[Any, Any, Any], tenant: FromPath[str], item_id: FromPath[str], principal: AuthPrincipal
    ) -> dict[str, Any]:
        principal.allow(tenant, "viewer")
        return {"id": item_id, "versions": _runtime(request).queries.history(tenant, cls, item_id)}

    @post(
        "/{item_id:str}/revert", sync_to_thread=True, status_code=200, summary=f"Restore an earlier version of a {kind}"
    )
    def revert(
        request: Request[Any, Any, Any],
        tenant: FromPath[str],
        item_id: FromPath[str],
        principal: AuthPrincipal,
        data: JSONBody[Revert],
    ) -> Response[Any]:
        principal.allow(tenant, "editor")
        result = _runtime(request).registry.revert_entity(principal.envelope(tenant), kind, item_id, data.version)
        return written(result, reverted_to=data.version)

    return documented(
        Router(
            path=f"/v1/tenants/{{tenant:str}}/{PLURAL[kind]}",
            tags=[PLURAL[kind]],
            route_handlers=[create, list_items, get_item, update, enable, disable, remove, history, revert],
            dependencies={"principal": Provide(provide_principal, sync_to_thread=True)},
        )
    )


def catalog_routers() -> list[Router]:
    return [_router(kind) for kind in KINDS]
