"""What a token may hold at once in this process (open streams, tools/call in flight), and the answers
of the MCP endpoints when a limit, a quota or the session store says no.

The limits are per process, like a proxy's connection limits: with N workers a token may hold N
times as many. They bound what one client can pin (queues, tasks, upstream connections), so one
token cannot starve the others; 0 turns a limit off.
"""

from __future__ import annotations

import weakref
from typing import Any

from ledgergate.api.mcp.protocol import error_body
from ledgergate.api.mcp.replies import Reply
from ledgergate.application.sessions import SessionQuotaError, SessionStoreUnavailableError

__all__ = [
    "OVER_LIMIT",
    "UNAVAILABLE",
    "Slot",
    "TokenSlots",
    "over_limit_reply",
    "quota_reply",
    "unavailable_reply",
]

#: JSON-RPC codes of the gateway, in the implementation-defined range (-32000..-32019)
OVER_LIMIT = -32003  # HTTP 429 (or 503 when the whole store is full): a quota or concurrency limit
UNAVAILABLE = -32004  # HTTP 503: a dependency (the session store) is unreachable; retry after Retry-After


class Slot:
    """One stream or call held by a token; released once, however many times ``release`` is called."""

    def __init__(self, owner: TokenSlots, token_id: str) -> None:
        self._owner: TokenSlots | None = owner
        self.token_id = token_id

    def release(self) -> None:
        if self._owner is not None:
            owner, self._owner = self._owner, None
            owner._give_back(self.token_id)

    def bind(self, holder: object) -> None:
        """Release when ``holder`` (e.g. a response stream that is never iterated) is collected."""
        weakref.finalize(holder, self.release)


class TokenSlots:
    def __init__(self, limit: int, what: str) -> None:
        self.limit = limit
        self.what = what
        self._held: dict[str, int] = {}

    def take(self, token_id: str) -> Slot | None:
        """A slot for ``token_id``; None when it holds ``limit`` already."""
        held = self._held.get(token_id, 0)
        if self.limit and held >= self.limit:
            return None
        self._held[token_id] = held + 1
        return Slot(self, token_id)

    def held(self, token_id: str) -> int:
        return self._held.get(token_id, 0)

    def _give_back(self, token_id: str) -> None:
        held = self._held.get(token_id, 0) - 1
        if held > 0:
            self._held[token_id] = held
        else:
            self._held.pop(token_id, None)

    def refusal(self) -> str:
        return f"this token has {self.limit} {self.what} open, its limit; close one or retry shortly"


def _reply(request_id: Any, status: int, code: int, message: str, retry_after_s: int) -> Reply:
    return Reply(status, error_body(request_id, code, message), {"Retry-After": str(retry_after_s)})


def over_limit_reply(request_id: Any, slots: TokenSlots, retry_after_s: int = 1) -> Reply:
    return _reply(request_id, 429, OVER_LIMIT, slots.refusal(), retry_after_s)


def quota_reply(request_id: Any, exc: SessionQuotaError) -> Reply:
    status = 429 if exc.scope == "tenant" else 503
    return _reply(request_id, status, OVER_LIMIT, exc.message, exc.retry_after_s)


def unavailable_reply(request_id: Any, exc: SessionStoreUnavailableError) -> Reply:
    return _reply(request_id, 503, UNAVAILABLE, exc.message, exc.retry_after_s)
