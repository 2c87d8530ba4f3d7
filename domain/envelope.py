"""The envelope every event carries, and the base class that stamps it on.

The envelope (tenant, actor, correlation id, causation id, and the credential: token id and its
tenant) is set for the duration of a command with :func:`recording`; every event an aggregate records
inside that block carries it. The library's own ``timestamp`` is the occurred-at time.

``tenant_id`` is whose data the event is; ``actor_tenant`` is the tenant of the token that wrote it
(they differ when a platform admin acts in another tenant). A token's actor is qualified by its
tenant (``acme:alice``), so no other tenant can claim it; system actors (``system:supervisor``,
``cli``) carry no token, and neither a token subject nor a tenant slug can take their form.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass
from typing import Any

from eventsourcing.domain import Aggregate

from ledgergate.domain.errors import DomainError
from ledgergate.domain.topics import keep_topics

__all__ = [
    "SYSTEM_ACTOR_NAMESPACES",
    "Envelope",
    "RegistryAggregate",
    "entity_kind",
    "qualified_actor",
    "recording",
    "upcast_credential",
]

#: The first segment of system actors (``system:supervisor``, ``cli``, ``cli:contextforge-import``): no
#: tenant may take one of these slugs, so no qualified token actor can read as a system actor.
SYSTEM_ACTOR_NAMESPACES = ("system", "cli")


@dataclass(frozen=True)
class Envelope:
    tenant_id: str
    actor: str
    correlation_id: str
    causation_id: str
    actor_token_id: str | None = None  # the exact credential; None for system actors
    actor_tenant: str | None = None  # the tenant the credential belongs to


def qualified_actor(tenant: str, subject: str) -> str:
    """The actor a token of ``tenant`` with ``subject`` writes as: unique across tenants."""
    return f"{tenant}:{subject}"


def upcast_credential(state: dict[str, Any]) -> None:
    """Events recorded before the envelope named the credential carry none (as a system actor's)."""
    state.setdefault("actor_token_id", None)
    state.setdefault("actor_tenant", None)


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
        """Class version 2 added ``actor_token_id`` and ``actor_tenant``. An event class with versions of
        its own chains this step into its own upcasters (``Tool.Registered``)."""

        class_version = 2
        tenant_id: str
        actor: str
        correlation_id: str
        causation_id: str
        actor_token_id: str | None
        actor_tenant: str | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            upcast_credential(state)

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


keep_topics(__name__, globals())
