"""What the MCP rules answer, independent of the web framework."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from ledgergate.api.mcp.protocol import error_body
from ledgergate.projections.hot_catalog import Snapshot

__all__ = ["EventsReply", "Reply", "StreamReply", "error_reply"]

JSON = "application/json"


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    media_type: str = JSON
    #: False for an error answering no request (its id could not be read, or none was sent)
    correlated: bool = True


@dataclass
class EventsReply:
    """Messages to send as an SSE stream that ends with the response (a call reporting progress)."""

    messages: AsyncIterator[bytes]


@dataclass
class StreamReply:
    """An SSE stream of list_changed notifications (``subscriptions/listen``)."""

    snapshot: Snapshot
    kinds: frozenset[str]
    first: bytes
    subscription_id: Any
    resources: list[dict[str, Any]] = field(default_factory=list)  # rows of resourceSubscriptions


def error_reply(request_id: Any, code: int, message: str, status: int = 200, data: Any = None) -> Reply:
    return Reply(status=status, body=error_body(request_id, code, message, data), correlated=request_id is not None)
