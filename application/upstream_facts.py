"""What the upstream adapters learn about the call being served, for its log line and metrics.

The caller of a forwarded call opens :func:`watch_upstream`; the adapter that talks to the upstream
records what it saw (its HTTP status) with :func:`note_upstream_status`, in the same task.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

__all__ = ["UpstreamFacts", "note_upstream_status", "watch_upstream"]


@dataclass
class UpstreamFacts:
    """What the upstream client learnt about the call being served (read by the call's log line)."""

    status: int | None = None


_facts: ContextVar[UpstreamFacts | None] = ContextVar("ledgergate_upstream_facts", default=None)


@contextmanager
def watch_upstream() -> Iterator[UpstreamFacts]:
    facts = UpstreamFacts()
    token = _facts.set(facts)
    try:
        yield facts
    finally:
        _facts.reset(token)


def note_upstream_status(status: int) -> None:
    """The HTTP status an upstream answered the current call with (nothing outside a watched call)."""
    facts = _facts.get()
    if facts is not None:
        facts.status = status
