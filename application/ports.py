"""Ports: what the application needs from the outside world, named by role."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

if TYPE_CHECKING:
    from ledgergate.application.sessions import McpSession

__all__ = [
    "Ask",
    "BearerVerifier",
    "CatalogQueries",
    "Channel",
    "Flavour",
    "HttpUpstream",
    "ItemFilter",
    "ItemPage",
    "Notification",
    "PooledUpstreams",
    "Progress",
    "ProjectionPositions",
    "SecretCipher",
    "ServerRequest",
    "SessionExpiredError",
    "SessionRecords",
    "TokenClaims",
    "TokenReader",
    "TokenSigner",
    "UnauthorizedError",
    "UpstreamCallLimits",
    "UpstreamCredentials",
    "UpstreamRpcError",
    "UpstreamTransportError",
    "UpstreamUnavailableError",
]


class SecretCipher(Protocol):
    """Encrypts secrets with a per-tenant data key kept outside the event log."""

    def encrypt(self, tenant_id: str, plaintext: str) -> dict[str, str]:
        """Returns ``{"key_id": ..., "ciphertext": ...}``."""
        ...

    def decrypt(self, tenant_id: str, sealed: dict[str, str]) -> str: ...

    def ensure_tenant_key(self, tenant_id: str) -> None: ...

    def shred(self, tenant_id: str) -> None:
        """Destroy the tenant's data key (crypto-shredding)."""
        ...


class TokenSigner(Protocol):
    def sign(self, claims: dict[str, Any]) -> str: ...


@dataclass(frozen=True)
class TokenClaims:
    """What a verified bearer token says (the adapter is ``infrastructure.auth.jwt_tokens``)."""

    token_id: str
    subject: str
    tenant_id: str
    role: str
    server_ids: tuple[str, ...] | None
    expires_at: float | None = None


class TokenReader(Protocol):
    """Reads the gateway's own tokens. ``allow_expired`` reads an expired one (to say when it expired, or
    to revoke it), never to authenticate. Raises: InvalidTokenError."""

    def verify(self, token: str, *, allow_expired: bool = False) -> TokenClaims: ...


class BearerVerifier(Protocol):
    """Verifies a bearer token: the gateway's own, or one of the configured OpenID Connect issuer.

    Raises: InvalidTokenError."""

    async def averify(self, token: str) -> TokenClaims: ...


@dataclass(frozen=True)
class ItemFilter:
    enabled: bool | None = None
    tag: str | None = None
    name_prefix: str | None = None
    #: only the items an upstream brought (its discovered tools, resources and prompts)
    upstream_id: str | None = None


@dataclass(frozen=True)
class ItemPage:
    items: Sequence[dict[str, Any]]
    next_after: tuple[str, str] | None = None


class CatalogQueries(Protocol):
    """Reads of the catalog read model (rows as built by ``projections.catalog``)."""

    def get_item(self, tenant_id: str | None, kind: str, item_id: str) -> dict[str, Any] | None: ...

    def list_items(
        self, tenant_id: str | None, kind: str, flt: ItemFilter, after: tuple[str, str] | None, limit: int
    ) -> ItemPage: ...

    def member_ids(self, server_id: str) -> dict[str, list[str]]: ...

    def is_token_revoked(self, token_id: str) -> bool: ...


class ProjectionPositions(Protocol):
    """The position the catalog projection has reached, as this process sees it."""

    def current(self) -> int: ...

    def wait_for(self, position: int, timeout_s: float) -> bool: ...


# -- forwarding calls to upstreams -------------------------------------------------------------------
# The forwarding use case (application/forwarding.py) reaches upstreams only through these ports; the
# adapters are infrastructure/upstream/ (``HttpUpstreamClient``, ``UpstreamPool``, ``auth_headers``).

MODERN_PROTOCOL = "2026-07-28"

#: relays the upstream's progress (progress, total, message) to the client
Progress = Callable[[float, float | None, str | None], Awaitable[None]]
#: answers a request the upstream makes mid-call with ``{"result": ...}`` or ``{"error": ...}``
ServerRequest = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
#: receives a notification the upstream sends about the request (``notifications/message``...)
Notification = Callable[[dict[str, Any]], Awaitable[None]]
#: the input relay: asks the client ``method`` with ``params`` mid-call; answers ``{"result"|"error": ...}``
Ask = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]
#: how a pooled connection serves a call: (askable capabilities, a handshake session, where notifications go)
Flavour = tuple[dict[str, Any], bool, Notification | None] | None


class UpstreamCredentials(Protocol):
    """The headers that carry an upstream's own credentials. An OAuth token is kept by the adapter until
    shortly before it expires; ``fresh``: the upstream refused the one it gave. Raises: UpstreamUnavailableError."""

    def __call__(self, spec: dict[str, Any], fresh: bool = False) -> Awaitable[dict[str, str]]: ...


class Channel(msgspec.Struct, frozen=True, kw_only=True):
    """A negotiated way of talking to one upstream: modern (stateless) or a legacy session."""

    version: str
    session_id: str | None = None

    @property
    def modern(self) -> bool:
        return self.version == MODERN_PROTOCOL


class UpstreamTransportError(Exception):
    """The upstream could not be reached, or did not answer with MCP."""


class SessionExpiredError(Exception):
    """A legacy upstream no longer knows the session (HTTP 404): negotiate again; the request did not run."""


class UnauthorizedError(Exception):
    """The upstream refused our credentials (HTTP 401): fetch them again; the request did not run."""


class UpstreamRpcError(Exception):
    """The upstream answered the request with a JSON-RPC error."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


class UpstreamUnavailableError(Exception):
    """The upstream could not be reached or did not speak MCP (pooled connections, credentials)."""


class HttpUpstream(Protocol):
    """Streamable-HTTP upstreams, one request per POST."""

    async def negotiate(
        self, url: str, auth: Mapping[str, str], prefer_modern: bool = True, capabilities: dict[str, Any] | None = None
    ) -> Channel:
        """Raises: UpstreamTransportError, UnauthorizedError."""
        ...

    async def request(
        self,
        url: str,
        auth: Mapping[str, str],
        channel: Channel,
        method: str,
        params: dict[str, Any],
        *,
        extra_headers: Mapping[str, str] | None = None,
        progress: Progress | None = None,
        on_request: ServerRequest | None = None,
        capabilities: dict[str, Any] | None = None,
        log_level: str | None = None,
        notify: Notification | None = None,
    ) -> dict[str, Any]:
        """Raises: UpstreamTransportError, SessionExpiredError, UnauthorizedError, UpstreamRpcError."""
        ...

    async def end_session(self, url: str, auth: Mapping[str, str], channel: Channel) -> None: ...

    async def close(self) -> None: ...


class PooledUpstreams(Protocol):
    """stdio and SSE upstreams (and the SDK's sessions) kept open and shared.

    Every method raises ToolCallError when the upstream cannot be reached and UpstreamRpcError when
    it answers with a JSON-RPC error."""

    async def speaks_modern(self, spec: dict[str, Any], version: int, client: str = "") -> bool: ...

    async def call_tool(
        self,
        spec: dict[str, Any],
        version: int,
        name: str,
        arguments: dict[str, Any],
        meta: dict[str, Any] | None = None,
        client: str = "",
        retry: bool = False,
        progress: Any = None,
        ask: Ask | None = None,
        flavour: Flavour = None,
        passthrough: dict[str, Any] | None = None,
        timeout_s: float | None = None,
    ) -> dict[str, Any]: ...

    async def read_resource(self, spec: dict[str, Any], version: int, uri: str, client: str = "") -> dict[str, Any]: ...

    async def get_prompt(
        self,
        spec: dict[str, Any],
        version: int,
        name: str,
        arguments: dict[str, Any],
        client: str = "",
        ask: Ask | None = None,
        flavour: Flavour = None,
        passthrough: dict[str, Any] | None = None,
    ) -> dict[str, Any]: ...

    async def complete(
        self,
        spec: dict[str, Any],
        version: int,
        ref: dict[str, Any],
        argument: dict[str, str],
        context: dict[str, str] | None,
        client: str = "",
    ) -> dict[str, Any]: ...


class UpstreamCallLimits(Protocol):
    """How many calls to one upstream this process runs at once: ``slot`` waits for a free one."""

    def slot(self, upstream_id: str, limit: int) -> AbstractAsyncContextManager[None]: ...


class SessionRecords(Protocol):
    """Where a downstream session's record is kept, so the upstream sessions kept for it reach every worker."""

    async def change(self, session_id: str, apply: Callable[[McpSession], None]) -> McpSession | None:
        """Apply ``apply`` to the record as stored now (again, if another worker changed it in between)."""
        ...
