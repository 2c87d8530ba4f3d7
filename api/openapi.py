"""What the OpenAPI document says of every REST route: the problems it can answer and the token it needs.

``documented(router)`` is applied to each REST router, so a new handler is described like its neighbours
without listing anything: every authenticated operation can answer 400 (a malformed request or parameter),
401, 403, 422 (a value the rules refuse) and 503 (a position not reached in time, a database away); one
whose path names a tenant or an entity also 404; writes there also 409 (a name or version conflict) and
410 (the entity was deleted); handlers that read a body also 413. All of them as RFC 9457 problem details
(``application/problem+json``), never the framework's default 400 shape.
"""

from __future__ import annotations

from collections.abc import Iterable

from litestar import Router
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.spec import Components, SecurityScheme
from litestar.routes import HTTPRoute

from ledgergate.api.docs_pages import docs_router, render_plugins
from ledgergate.api.errors import PROBLEM_JSON, TITLES
from ledgergate.api.schemas import ProblemDetails

__all__ = ["BEARER", "documented", "openapi_config", "problems"]

BEARER = "BearerToken"
AUTHENTICATED = (400, 401, 403, 422, 503)
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
DESCRIPTIONS = {
    400: "The request is malformed: a body that is not JSON we accept (invalid UTF-8, nested deeper than 64 "
    "levels), unknown or mistyped fields, or a parameter the API cannot read (a cursor it did not issue)",
    401: "No token, or a token that is invalid, expired or revoked",
    403: "The token may not do this (role, tenant, or its tenant is disabled)",
    404: "No such tenant or entity in this tenant",
    409: "A name already taken, or If-Match names a version that is no longer current",
    410: "The entity was deleted",
    413: "The body is larger than the configured limit",
    422: "A value the rules refuse; the detail names the field",
    502: "The upstream could not be reached",
    503: "The projections did not reach min_position in time, or a dependency is away; retry after Retry-After",
}


def problems(*statuses: int) -> dict[int, ResponseSpec]:
    """Problem-details responses for ``statuses``, for a handler's ``responses=``."""
    return {
        status: ResponseSpec(
            data_container=ProblemDetails,
            media_type=PROBLEM_JSON,
            description=DESCRIPTIONS.get(status, TITLES.get(status, "Error")),
            generate_examples=False,
        )
        for status in statuses
    }


def _statuses(handler: HTTPRouteHandler, path: str) -> set[int]:
    statuses = set(AUTHENTICATED)
    if "{" in path:
        statuses.add(404)
    if WRITES & set(handler.http_methods):
        statuses.add(409)
        if "{" in path:
            statuses.add(410)
    if "data" in handler.parsed_fn_signature.parameters:
        statuses.add(413)
    return statuses


def documented(router: Router, extra: Iterable[int] = ()) -> Router:
    """Declare on each handler of ``router`` its problem responses and the bearer token it needs."""
    for route in router.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if not handler.include_in_schema:
                continue
            declared = problems(*sorted(_statuses(handler, route.path) | set(extra)))
            handler.responses = {**declared, **(handler.responses or {})}
            handler.security = [{BEARER: []}]
    return router


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Ledgergate",
        version="1",
        path="/docs",
        render_plugins=render_plugins(),  # pinned assets served by the gateway: the pages work offline
        openapi_router=docs_router(),
        components=Components(
            security_schemes={
                BEARER: SecurityScheme(
                    type="http",
                    scheme="bearer",
                    bearer_format="JWT",
                    description="A token issued by `ledgergate token create` or POST /v1/tenants/{tenant}/tokens",
                )
            }
        ),
    )
