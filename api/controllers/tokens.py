"""API tokens of a tenant: issue (the JWT is shown once), list, get, revoke."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, Router, delete, get, post
from litestar.di import Provide
from litestar.params import FromPath, FromQuery, HeaderParameter, JSONBody, QueryParameter
from msgspec import UNSET

from ledgergate.api.auth import AuthPrincipal, provide_principal
from ledgergate.api.bootstrap import expires_at_of, token_lifetimes
from ledgergate.api.controllers.responses import Cursor, page, written
from ledgergate.api.openapi import documented
from ledgergate.api.schemas import TokenCreate
from ledgergate.application.errors import ValidationError
from ledgergate.application.ports import ItemFilter
from ledgergate.domain.api_token import ISSUE_KEY

__all__ = ["tokens_router"]


IDEMPOTENCY_KEY = HeaderParameter(
    name="Idempotency-Key",
    required=False,
    description="A key of 16 to 128 URL-safe characters the client makes once per token it means to issue. "
    "Sent again (a retry after a lost answer, from any worker), it issues nothing and answers 409 "
    "`already-issued` with the token's id, name, role, whether it is revoked and when it was issued; never "
    "its secret, which is not stored.",
)


@post(
    "/",
    sync_to_thread=True,
    status_code=201,
    summary="Issue a token; the token is in this answer only",
    description="With an `Idempotency-Key` header, a retry of the same issue issues no second token.",
)
def issue_token(
    request: Request[Any, Any, Any],
    tenant: FromPath[str],
    principal: AuthPrincipal,
    data: JSONBody[TokenCreate],
    idempotency_key: Annotated[str | None, IDEMPOTENCY_KEY] = None,
) -> Response[Any]:
    principal.allow(tenant, "admin")
    if idempotency_key is not None and not ISSUE_KEY.fullmatch(idempotency_key):
        raise ValidationError(
            "the Idempotency-Key header must be 16 to 128 URL-safe characters (letters, digits, '-', '_')",
            field="Idempotency-Key",
        )
    runtime = request.app.state.runtime
    given = data.expires_in_s is not UNSET
    ttl = token_lifetimes(runtime.settings).lifetime(
        data.expires_in_s if isinstance(data.expires_in_s, int) else None, data.service, given
    )
    result, token = runtime.registry.issue_token(
        principal.envelope(tenant),
        principal.role,
        data.name,
        data.subject or data.name,
        data.role,
        data.server_ids,
        ttl,
        idempotency_key,
    )
    return written(result, 201, token=token, expires_at=expires_at_of(runtime.codec, token))


@get("/", sync_to_thread=True, summary="List tokens")
def list_tokens(
    request: Request[Any, Any, Any],
    tenant: FromPath[str],
    principal: AuthPrincipal,
    enabled: FromQuery[bool | None] = None,
    cursor: Cursor = None,
    limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
    min_position: Annotated[int | None, QueryParameter(ge=0)] = None,
) -> dict[str, Any]:
    principal.allow(tenant, "admin")
    items, next_cursor = request.app.state.runtime.queries.list(
        tenant, "token", ItemFilter(enabled=enabled), cursor, limit, min_position
    )
    return page(items, next_cursor)


@get("/{token_id:str}", sync_to_thread=True, summary="Get a token (never its secret)")
def get_token(
    request: Request[Any, Any, Any],
    tenant: FromPath[str],
    token_id: FromPath[str],
    principal: AuthPrincipal,
    min_position: Annotated[int | None, QueryParameter(ge=0)] = None,
) -> dict[str, Any]:
    principal.allow(tenant, "admin")
    return request.app.state.runtime.queries.get(tenant, "token", token_id, min_position)  # type: ignore[no-any-return]


@delete("/{token_id:str}", sync_to_thread=True, status_code=200, summary="Revoke a token")
def revoke_token(
    request: Request[Any, Any, Any], tenant: FromPath[str], token_id: FromPath[str], principal: AuthPrincipal
) -> Response[Any]:
    principal.allow(tenant, "admin")
    return written(request.app.state.runtime.registry.revoke_token(principal.envelope(tenant), token_id))


tokens_router = documented(
    Router(
        path="/v1/tenants/{tenant:str}/tokens",
        tags=["tokens"],
        route_handlers=[issue_token, list_tokens, get_token, revoke_token],
        dependencies={"principal": Provide(provide_principal, sync_to_thread=True)},
    )
)
