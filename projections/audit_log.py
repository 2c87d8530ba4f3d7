"""The audit log read model: one row per event, filterable by tenant, entity, kind, type, actor (and the
credential: token id, its tenant) and time.

The follower appends rows exactly once (rows and position commit together, like the catalog). A
rebuild writes a new generation of rows beside the live one while the live one keeps being served
and followed, then switches to it in one short transaction and drops the old rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any, Protocol

from ledgergate.application.audit import StreamKinds, event_entry

__all__ = ["AUDIT_PROJECTION", "AuditProjector", "AuditRow", "AuditStore", "audit_row"]

AUDIT_PROJECTION = "audit_v1"
EventSource = Callable[[int, int], Sequence[tuple[int, Any]]]


@dataclass(frozen=True)
class AuditRow:
    position: int
    tenant_id: str
    stream_id: str
    entity_kind: str
    event_type: str
    actor: str
    actor_token_id: str | None
    actor_tenant: str | None
    occurred_at: str  # UTC, ISO 8601: compares as text in both databases
    entry: dict[str, Any]


def audit_row(position: int, event: Any, kind: str) -> AuditRow:
    return AuditRow(
        position=position,
        tenant_id=event.tenant_id,
        stream_id=str(event.originator_id),
        entity_kind=kind,
        event_type=type(event).__qualname__,
        actor=event.actor,
        actor_token_id=event.actor_token_id,
        actor_tenant=event.actor_tenant,
        occurred_at=event.timestamp.astimezone(UTC).isoformat(timespec="microseconds"),
        entry=event_entry(position, event, kind),
    )


class AuditStore(Protocol):
    def position(self, name: str) -> int: ...

    def kinds(self, stream_ids: list[str]) -> dict[str, str]:
        """The recorded kind of each stream (any generation: a stream's kind never changes)."""
        ...

    def append(self, name: str, start: int, rows: list[AuditRow], new_position: int) -> bool:
        """Append to the live generation if the position is still ``start``; False if another process moved it."""
        ...

    def begin_generation(self, name: str) -> int:
        """A new, empty generation beside the live one (leftovers of an abandoned rebuild are dropped)."""
        ...

    def fill(self, name: str, generation: int, rows: list[AuditRow]) -> None: ...

    def switch(self, name: str, generation: int, rows: list[AuditRow], new_position: int) -> int:
        """Append ``rows``, make ``generation`` live at ``new_position``; returns the old generation."""
        ...

    def drop_generation(self, name: str, generation: int) -> None: ...


class AuditProjector:
    def __init__(self, store: AuditStore, source: EventSource, batch_size: int = 1000) -> None:
        self.store = store
        self.source = source
        self.batch_size = batch_size
        self.name = AUDIT_PROJECTION
        self.kinds = StreamKinds(store.kinds)

    def rows(self, items: Sequence[tuple[int, Any]]) -> list[AuditRow]:
        self.kinds.learn(items)
        return [audit_row(position, event, self.kinds.of(event)) for position, event in items]

    def run_once(self) -> tuple[int, int]:
        """One batch: (position reached, events processed), or -1 when another process got there first."""
        start = self.store.position(self.name)
        items = self.source(start, self.batch_size)
        if not items:
            return start, 0
        if not self.store.append(self.name, start, self.rows(items), items[-1][0]):
            return self.store.position(self.name), -1
        return items[-1][0], len(items)

    def catch_up(self) -> int:
        while True:
            position, processed = self.run_once()
            if 0 <= processed < self.batch_size:
                return position

    def rebuild(self, on_progress: Callable[[int], None] | None = None) -> int:
        """Replay the log into a new generation beside the live one, switch, drop the old one.
        ``on_progress`` is told the position reached after each batch."""
        generation = self.store.begin_generation(self.name)
        position = 0
        while True:
            items = self.source(position, self.batch_size)
            if len(items) < self.batch_size:  # the tail goes in with the switch
                break
            self.store.fill(self.name, generation, self.rows(items))
            position = items[-1][0]
            if on_progress is not None:
                on_progress(position)
        if items:
            position = items[-1][0]
            if on_progress is not None:
                on_progress(position)
        old = self.store.switch(self.name, generation, self.rows(items), position)
        self.store.drop_generation(self.name, old)
        return position
