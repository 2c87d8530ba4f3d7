"""MCP sessions of legacy-era clients: what was negotiated, kept in a store any worker can read.

A session belongs to one token of one tenant. Stores keep each token and each tenant within a
quota and end sessions left unused for the idle time; see ``SessionStore.open``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec

__all__ = [
    "McpSession",
    "MessageChannels",
    "SessionLimits",
    "SessionQuotaError",
    "SessionStore",
    "SessionStoreUnavailableError",
]


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


@dataclass(frozen=True)
class SessionLimits:
    """How many sessions a token and a tenant may hold, and how long an unused one lives."""

    per_token: int = 1_000
    per_tenant: int = 10_000
    idle_s: float = 3_600.0
    #: all sessions of the process (the memory store only; Redis is bounded by its own memory)
    per_process: int = 100_000


class SessionQuotaError(Exception):
    """A new session would take a tenant (or the whole store) past its quota; nothing was stored."""

    def __init__(self, message: str, scope: str, retry_after_s: int = 5) -> None:
        super().__init__(message)
        self.message = message
        self.scope = scope  # "tenant" | "process"
        self.retry_after_s = retry_after_s


class SessionStoreUnavailableError(Exception):
    """The store holding sessions (or the channels relaying their messages) cannot be reached now."""

    def __init__(self, message: str = "the session store is unavailable", retry_after_s: int = 2) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after_s = retry_after_s


class SessionStore(Protocol):
    """Memory for one process; Redis when several processes or hosts serve one gateway.

    Every method raises SessionStoreUnavailableError when the store cannot be reached."""

    async def open(self, session: McpSession) -> list[str]:
        """Store a new session. A token at its quota gives up its least recently used session (whose
        ids are returned); a tenant at its quota gets no new session.

        Raises: SessionQuotaError, SessionStoreUnavailableError."""
        ...

    async def use(self, session_id: str, tenant_id: str, token_id: str) -> McpSession | None:
        """The session if it is this tenant's token's, its idle time restarted; None if it is not, or
        ended, expired or was given up."""
        ...

    async def get(self, session_id: str) -> McpSession | None:
        """The session, without counting this as a use."""
        ...

    async def put(self, session: McpSession) -> None:
        """Save a stored session whole; one that ended in the meantime stays ended. Only for a record no other
        request can be changing yet (the one a stream just opened): changes go through ``change``."""
        ...

    async def change(self, session_id: str, apply: Callable[[McpSession], None]) -> McpSession | None:
        """Apply ``apply`` to the session as stored now and save the result, unless the record changed in
        between (then read it again and apply again), so concurrent changes by requests on any worker each
        hold: a subscription added here and an upstream session kept there are both kept. Returns the saved
        session, or None if it ended.

        Raises: SessionStoreUnavailableError (also when it changed under every attempt)."""
        ...

    async def delete(self, session_id: str) -> bool: ...

    async def count(self) -> int: ...

    async def close(self) -> None: ...


class MessageChannels(Protocol):
    """Named channels between processes (Redis pub/sub): messages go to whoever listens now, nothing is kept."""

    async def publish(self, channel: str, message: bytes) -> int:
        """Send ``message``; how many processes listen on ``channel``. Raises: SessionStoreUnavailableError."""
        ...

    async def listen(self, channel: str, receive: Callable[[bytes], None]) -> None:
        """Call ``receive`` with each message of ``channel`` until ``unlisten``; while the channels are
        unreachable this returns at once and listening resumes when they are back."""
        ...

    async def unlisten(self, channel: str) -> None: ...

    async def close(self) -> None: ...
