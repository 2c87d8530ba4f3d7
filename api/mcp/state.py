"""What the MCP endpoints of one process share: built by ``api/mcp/wiring.py``, read by the routes."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from ledgergate.api.mcp.admission import TokenSlots
from ledgergate.api.mcp.auth import McpTokenVerifier
from ledgergate.api.mcp.gateway import McpGateway
from ledgergate.api.mcp.notifications import NotificationHub
from ledgergate.api.mcp.resource_updates import ResourceUpdates
from ledgergate.api.mcp.sse_relay import SseRelay
from ledgergate.api.metrics import McpMetrics
from ledgergate.application.sessions import SessionStore

__all__ = ["KEEPALIVE_S", "McpState"]

#: a quiet stream sends a comment this often, so proxies and clients know it is alive
KEEPALIVE_S = 15.0


@dataclass
class McpState:
    gateway: McpGateway
    verifier: McpTokenVerifier
    hub: NotificationHub
    sessions: SessionStore
    metrics: McpMetrics
    allowed_origins: frozenset[str]
    relay: SseRelay
    updates: ResourceUpdates
    background: set[asyncio.Task[None]] = field(default_factory=set)
    #: open streams (GET /mcp, /sse, subscriptions/listen) per token in this process
    streams: TokenSlots = field(default_factory=lambda: TokenSlots(0, "streams"))
    #: how often a quiet stream restarts its session's idle time (and ends if the session has ended)
    touch_s: float = KEEPALIVE_S
