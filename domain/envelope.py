"""The envelope every event carries, and the base class that stamps it on.

The envelope (tenant, actor, correlation id, causation id) is set for the duration of a command
with :func:`recording`; every event an aggregate records inside that block carries it. The
library's own ``timestamp`` is the occurred-at time.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass
from typing import Any

from eventsourcing.domain import Aggregate

from domain.errors import DomainError

__all__ = ["Envelope", "RegistryAggregate", "entity_kind", "recording"]


@dataclass(frozen=True)
class Envelope:
    tenant_id: str
    actor: str
    correlation_id: str
    causation_id: str


_current: ContextVar[Envelope | None] = ContextVar("ledgergate_envelope", default=None)


@contextmanager
def recording(envelope: Envelope) -> Iterator[Envelope]:
    """Stamp ``envelope`` on every event recorded in this block."""
    token = _current.set(envelope)
    try:
        yield envelope
    finally:
        _current.reset(token)


def _envelope_fields() -> dict[str, Any]:
    envelope = _current.get()
    if envelope is None:
        raise DomainError("events can only be recorded inside recording(envelope)")
    return asdict(envelope)


class RegistryAggregate(Aggregate):
    """Base of every Ledgergate aggregate: its events carry the envelope."""

    class Event(Aggregate.Event):
        tenant_id: str
        actor: str
        correlation_id: str
        causation_id: str

    class Created(Event, Aggregate.Created):
        def mutate(self, aggregate: Any) -> Any:
            created = super().mutate(aggregate)
            assert created is not None  # a creation event always makes its aggregate
            created.tenant_id = self.tenant_id
            return created

    @classmethod
    def _create(cls, event_class: Any, *, id: Any = None, **kwargs: Any) -> Any:
        envelope = _envelope_fields()
        if "tenant_id" in kwargs and kwargs["tenant_id"] != envelope["tenant_id"]:
            raise DomainError(
                f"a {cls.__name__} of tenant {kwargs['tenant_id']!r} can't be recorded by a command "
                f"of tenant {envelope['tenant_id']!r}"
            )
        kwargs.update(envelope)
        return super()._create(event_class, id=id, **kwargs)

    def trigger_event(self, event_class: Any, **kwargs: Any) -> None:
        kwargs.update(_envelope_fields())
        super().trigger_event(event_class, **kwargs)


def entity_kind(event: Any) -> str:
    """``tool``, ``upstream``, ``server``, ``name_claim``...: the kind of aggregate an event belongs to."""
    owner_name = type(event).__qualname__.split(".")[0]
    owner = getattr(sys.modules.get(type(event).__module__), owner_name, None)
    kind = getattr(owner, "KIND", None)
    if isinstance(kind, str):
        return kind
    return "".join("_" + c.lower() if c.isupper() else c for c in owner_name).lstrip("_")
