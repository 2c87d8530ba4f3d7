"""Who a request is for, noted by authentication and read by the access log line.

The access log creates one :class:`RequestFacts` per HTTP request and puts it in a context variable;
handlers run in a copy of that context (sync handlers in a worker thread too), so they fill in the
same object, and the line written when the response ends sees what they noted.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

__all__ = ["RequestFacts", "current_facts", "note_caller"]


@dataclass
class RequestFacts:
    tenant: str = ""
    token_id: str = ""
    correlation_id: str = ""


_current: ContextVar[RequestFacts | None] = ContextVar("ledgergate_request_facts", default=None)


def current_facts() -> RequestFacts | None:
    return _current.get()


def note_caller(tenant: str, token_id: str, correlation_id: str = "") -> None:
    """The authenticated caller of the current request (no-op outside one)."""
    facts = _current.get()
    if facts is not None:
        facts.tenant, facts.token_id = tenant, token_id
        if correlation_id:
            facts.correlation_id = correlation_id


def begin(facts: RequestFacts) -> object:
    return _current.set(facts)


def end(token: object) -> None:
    _current.reset(token)  # type: ignore[arg-type]
