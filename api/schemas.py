"""Request and response bodies of the REST API (msgspec; unknown fields are refused)."""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

__all__ = [
    "CREATE_BODIES",
    "UPDATE_BODIES",
    "Auth",
    "Integration",
    "ProblemDetails",
    "PromptArgument",
    "PromptCreate",
    "PromptUpdate",
    "ProtectedResourceMetadata",
    "Readiness",
    "ResourceCreate",
    "ResourceUpdate",
    "Revert",
    "ServerCreate",
    "ServerUpdate",
    "TenantCreate",
    "TenantUpdate",
    "TokenCreate",
    "ToolCreate",
    "ToolUpdate",
    "UpstreamCreate",
    "UpstreamUpdate",
    "to_fields",
]


class Request(msgspec.Struct, forbid_unknown_fields=True):
    pass


class Auth(Request):
    type: Literal["none", "bearer", "basic", "header"] = "none"
    token: str | UnsetType = UNSET
    username: str | UnsetType = UNSET
    password: str | UnsetType = UNSET
    header: str | UnsetType = UNSET
    value: str | UnsetType = UNSET


class Integration(Request):
    """How a REST tool is called. ``{arg}`` in the URL is filled from the arguments; header values are secrets."""

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
    url: str
    headers: dict[str, str] = {}
    query: dict[str, str] = {}
    body: list[str] | None = None
    timeout_s: float = 30.0
    auth: Auth = msgspec.field(default_factory=Auth)


class ToolCreate(Request):
    name: str
    input_schema: dict[str, Any]
    integration: Integration
    title: str | None = None
    description: str | None = None
    output_schema: dict[str, Any] | None = None
    annotations: dict[str, Any] = {}
    tags: list[str] = []


class ToolUpdate(Request):
    name: str | UnsetType = UNSET
    title: str | UnsetType | None = UNSET
    description: str | UnsetType | None = UNSET
    input_schema: dict[str, Any] | UnsetType = UNSET
    output_schema: dict[str, Any] | UnsetType | None = UNSET
    annotations: dict[str, Any] | UnsetType = UNSET
    tags: list[str] | UnsetType = UNSET
    integration: Integration | UnsetType = UNSET


class ResourceCreate(Request):
    uri: str
    name: str
    title: str | None = None
    description: str | None = None
    mime_type: str = "text/plain"
    text: str | None = None
    blob: str | None = None
    tags: list[str] = []


class ResourceUpdate(Request):
    uri: str | UnsetType = UNSET
    name: str | UnsetType = UNSET
    title: str | UnsetType | None = UNSET
    description: str | UnsetType | None = UNSET
    mime_type: str | UnsetType = UNSET
    text: str | UnsetType | None = UNSET
    blob: str | UnsetType | None = UNSET
    tags: list[str] | UnsetType = UNSET


class PromptArgument(Request):
    name: str
    description: str | None = None
    required: bool = False


class PromptCreate(Request):
    name: str
    template: str
    title: str | None = None
    description: str | None = None
    arguments: list[PromptArgument] = []
    tags: list[str] = []


class PromptUpdate(Request):
    name: str | UnsetType = UNSET
    template: str | UnsetType = UNSET
    title: str | UnsetType | None = UNSET
    description: str | UnsetType | None = UNSET
    arguments: list[PromptArgument] | UnsetType = UNSET
    tags: list[str] | UnsetType = UNSET


class ServerCreate(Request):
    name: str
    description: str | None = None
    tool_ids: list[str] = []
    resource_ids: list[str] = []
    prompt_ids: list[str] = []
    upstream_ids: list[str] = []
    tags: list[str] = []


class ServerUpdate(Request):
    name: str | UnsetType = UNSET
    description: str | UnsetType | None = UNSET
    tool_ids: list[str] | UnsetType = UNSET
    resource_ids: list[str] | UnsetType = UNSET
    prompt_ids: list[str] | UnsetType = UNSET
    upstream_ids: list[str] | UnsetType = UNSET
    tags: list[str] | UnsetType = UNSET


class TenantCreate(Request):
    name: str
    display_name: str | None = None
    description: str | None = None


class TenantUpdate(Request):
    display_name: str | UnsetType | None = UNSET
    description: str | UnsetType | None = UNSET


class TokenCreate(Request):
    """Without ``expires_in_s`` a token lives the default lifetime (90 days); ``"service": true`` with
    ``expires_in_s`` omitted or null issues a token that never expires."""

    name: str
    role: Literal["client", "viewer", "editor", "admin", "platform-admin"]
    subject: str | None = None
    server_ids: list[str] | None = None
    expires_in_s: int | UnsetType | None = UNSET
    service: bool = False


class Revert(Request):
    version: int


CREATE_BODIES: dict[str, type[Request]] = {
    "tool": ToolCreate,
    "resource": ResourceCreate,
    "prompt": PromptCreate,
    "server": ServerCreate,
}
UPDATE_BODIES: dict[str, type[Request]] = {
    "tool": ToolUpdate,
    "resource": ResourceUpdate,
    "prompt": PromptUpdate,
    "server": ServerUpdate,
}


def to_fields(body: msgspec.Struct) -> dict[str, Any]:
    """The fields a body sets (unset ones left out), as plain JSON-like values."""
    fields: dict[str, Any] = {}
    for name in body.__struct_fields__:
        value = getattr(body, name)
        if value is not UNSET:
            fields[name] = msgspec.to_builtins(value)
    return fields


class UpstreamAuth(Request):
    type: Literal["none", "bearer", "headers", "oauth_client_credentials"] = "none"
    token: str | UnsetType = UNSET
    headers: dict[str, str] | UnsetType = UNSET
    token_url: str | UnsetType = UNSET
    client_id: str | UnsetType = UNSET
    client_secret: str | UnsetType = UNSET
    scope: str | UnsetType = UNSET


class UpstreamPrefix(Request):
    enabled: bool = True
    separator: str = "__"


class UpstreamCreate(Request):
    """An MCP server to federate. HTTP transports need ``url``; ``stdio`` needs ``command``."""

    name: str
    transport: Literal["streamable_http", "sse", "stdio"]
    url: str | None = None
    command: str | None = None
    args: list[str] = []
    env: dict[str, str] = {}
    cwd: str | None = None
    description: str | None = None
    auth: UpstreamAuth = msgspec.field(default_factory=UpstreamAuth)
    prefix: UpstreamPrefix = msgspec.field(default_factory=UpstreamPrefix)
    session_mode: Literal["shared", "per_client"] = "shared"
    refresh_interval_s: int | None = None
    timeout_s: float = 60.0
    concurrency_limit: int = 64
    tags: list[str] = []


class UpstreamUpdate(Request):
    description: str | UnsetType | None = UNSET
    url: str | UnsetType = UNSET
    command: str | UnsetType = UNSET
    args: list[str] | UnsetType = UNSET
    env: dict[str, str] | UnsetType = UNSET
    cwd: str | UnsetType | None = UNSET
    auth: UpstreamAuth | UnsetType = UNSET
    session_mode: Literal["shared", "per_client"] | UnsetType = UNSET
    refresh_interval_s: int | UnsetType | None = UNSET
    timeout_s: float | UnsetType = UNSET
    concurrency_limit: int | UnsetType = UNSET
    tags: list[str] | UnsetType = UNSET


# -- answers described in the OpenAPI document -----------------------------------------------------------------


class ProblemDetails(msgspec.Struct):
    """An RFC 9457 problem. ``type`` is ``urn:ledgergate:problem:<slug>``; some problems add members (``errors``
    on a 400, ``field`` on a 422, ``current_version`` on a version conflict, ``line`` on a bad import)."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | UnsetType = UNSET


class ProtectedResourceMetadata(msgspec.Struct):
    """RFC 9728 protected resource metadata of an MCP endpoint."""

    resource: str
    bearer_methods_supported: list[str]
    scopes_supported: list[str]
    resource_name: str
    resource_documentation: str
    #: the external OpenID Connect issuer, when one is configured (LEDGERGATE_OIDC_ISSUER); absent otherwise
    authorization_servers: list[str] | None = None


class Readiness(msgspec.Struct):
    ready: bool
    #: "starting" until the catalogs have caught up, then "ok", or "degraded" while a dependency is away
    status: str
    position: int
    #: each dependency ("database", and "redis" when configured): "ok" or what is wrong with it
    checks: dict[str, str]
