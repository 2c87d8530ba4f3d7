"""MCP sessions of legacy-era clients: what was negotiated, kept in a store any worker can read."""

from __future__ import annotations

from typing import Any, Protocol

import msgspec

__all__ = ["McpSession", "SessionStore"]


class McpSession(msgspec.Struct, kw_only=True):
    id: str
    tenant_id: str
    server_id: str | None
    token_id: str
    protocol_version: str
    client_capabilities: dict[str, Any] = {}
    client_info: dict[str, Any] = {}
    log_level: str | None = None
    initialized: bool = False
    created_at: float = 0.0
    #: upstream id -> the upstream session a ``per_client`` upstream keeps for this client
    #: (``fingerprint`` of the connection settings, ``version``, ``session_id``), so any worker continues it.
    upstreams: dict[str, dict[str, Any]] = {}
    #: URIs of resources the client subscribed to (``resources/subscribe``)
    subscriptions: list[str] = []


class SessionStore(Protocol):
    """Memory for one process; Redis when several processes or hosts serve one gateway."""

    async def put(self, session: McpSession) -> None: ...

    async def get(self, session_id: str) -> McpSession | None: ...

    async def delete(self, session_id: str) -> bool: ...

    async def count(self) -> int: ...

    async def close(self) -> None: ...
