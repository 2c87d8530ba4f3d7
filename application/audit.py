"""Audit answers: who changed what (``AuditLog``, over the audit log projection), and the catalog as it
was at any point (``AuditService``, replaying the log into memory: the live read models are never touched).

The catalog "as it was" comes from an injected replay (``projections.point_in_time.catalog_at``),
which folds the events with the projections' own ``evolve``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eventsourcing.utils import get_topic

from ledgergate.application.ports import ProjectionPositions
from ledgergate.application.queries import wait_for_position
from ledgergate.application.secrets import mask_secrets
from ledgergate.domain.api_token import ApiToken
from ledgergate.domain.catalog import CatalogEntity
from ledgergate.domain.envelope import RegistryAggregate, entity_kind
from ledgergate.domain.name_claim import NameClaim
from ledgergate.domain.upstream import Upstream

__all__ = [
    "AuditEntries",
    "AuditFilter",
    "AuditLog",
    "AuditService",
    "CatalogReplay",
    "Point",
    "Positioned",
    "StreamKinds",
    "diff_catalogs",
    "event_entry",
    "parse_point",
]

Positioned = tuple[int, Any]


@dataclass(frozen=True)
class Point:
    """A point in the log: a global position, or a time (the last event recorded at or before it)."""

    position: int | None = None
    time: datetime | None = None

    def includes(self, position: int, event: Any) -> bool:
        if self.position is not None:
            return position <= self.position
        assert self.time is not None
        return bool(event.timestamp <= self.time)


def _changes(event: Any) -> dict[str, Any]:
    if isinstance(event, RegistryAggregate.Created):
        fields = getattr(event, "fields", None)
        return {"fields": fields} if fields is not None else {}
    if isinstance(event, CatalogEntity.Updated):
        return {"changes": event.changes}
    if isinstance(event, CatalogEntity.Reverted):
        return {"to_version": event.to_version, "state": event.state}
    if isinstance(event, Upstream.HealthChanged):  # the state it moved to, and why
        return {"state": event.state, "detail": event.detail}
    return {}


def event_entry(position: int, event: Any, kind: str) -> dict[str, Any]:
    """One event as the feed and the audit log show it: envelope and payload, secrets masked. ``kind`` is
    the entity's (``tool``, ``server``...): events of shared behaviour (``CatalogEntity.Disabled``) don't say it."""
    topic = type(event).__qualname__
    return {
        "position": position,
        "stream_id": str(event.originator_id),
        "version": event.originator_version,
        "kind": kind,
        "type": topic,
        "tenant_id": event.tenant_id,
        "actor": event.actor,
        "actor_token_id": event.actor_token_id,
        "actor_tenant": event.actor_tenant,
        "correlation_id": event.correlation_id,
        "causation_id": event.causation_id,
        "occurred_at": event.timestamp.isoformat(),
        **mask_secrets(_changes(event)),
    }


@dataclass(frozen=True)
class AuditFilter:
    tenant_id: str | None = None
    actor: str | None = None
    token_id: str | None = None  # the credential that wrote it (``actor_token_id``)
    actor_tenant: str | None = None  # the tenant of that credential
    entity_id: str | None = None
    entity_kind: str | None = None
    event_type: str | None = None
    since: datetime | None = None
    until: datetime | None = None


class StreamKinds:
    """The kind of each stream, learnt from its first event (the only one whose class names the aggregate)."""

    def __init__(self, lookup: Callable[[list[str]], dict[str, str]] | None = None, cap: int = 200_000) -> None:
        self.known: dict[str, str] = {}
        self.lookup = lookup
        self.cap = cap

    def learn(self, events: Iterable[Positioned]) -> None:
        """Remember the kinds the batch's creations tell, and look up those of other streams it touches."""
        if len(self.known) > self.cap:
            self.known.clear()
        unknown: set[str] = set()
        for _, event in events:
            stream = str(event.originator_id)
            if isinstance(event, RegistryAggregate.Created):
                self.known[stream] = entity_kind(event)
            elif stream not in self.known:
                unknown.add(stream)
        if unknown and self.lookup is not None:
            self.known.update(self.lookup(sorted(unknown)))

    def of(self, event: Any) -> str:
        return self.known.get(str(event.originator_id)) or entity_kind(event)


def diff_catalogs(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """What was added, changed (field by field) and removed between two catalogs."""
    result: dict[str, Any] = {
        "from": before["position"],
        "to": after["position"],
        "added": [],
        "changed": [],
        "removed": [],
    }
    for plural in ("tools", "resources", "prompts", "servers"):
        old = {r["id"]: r for r in before[plural]}
        new = {r["id"]: r for r in after[plural]}
        for item_id in sorted(new.keys() - old.keys()):
            result["added"].append({"kind": plural[:-1], "id": item_id, "name": new[item_id]["name"]})
        for item_id in sorted(old.keys() - new.keys()):
            result["removed"].append({"kind": plural[:-1], "id": item_id, "name": old[item_id]["name"]})
        for item_id in sorted(old.keys() & new.keys()):
            fields = _field_changes(old[item_id], new[item_id])
            if fields:
                result["changed"].append(
                    {"kind": plural[:-1], "id": item_id, "name": new[item_id]["name"], "fields": fields}
                )
    return result


def _field_changes(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    changes = {
        name: {"from": old["fields"].get(name), "to": value}
        for name, value in new["fields"].items()
        if old["fields"].get(name) != value
    }
    if old["enabled"] != new["enabled"]:
        changes["enabled"] = {"from": old["enabled"], "to": new["enabled"]}
    return changes


def parse_point(value: str) -> Point:
    """``123`` is a position; anything else must be an RFC 3339 time. Raises: ValueError."""
    if value.isdigit():
        return Point(position=int(value))
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError("give the time with its offset, e.g. 2026-11-17T09:00:00Z")
    return Point(time=moment)


#: The audit log projection's query: (filter, after position, limit) -> entries in log order.
AuditEntries = Callable[["AuditFilter", int, int], list[dict[str, Any]]]

#: Topic prefixes of streams that are never part of a catalog (name claims, API tokens): a third of a
#: tenant's events are name claims, so a catalog replay leaves them out before decoding.
NOT_IN_CATALOGS = tuple(get_topic(cls) + "." for cls in (NameClaim, ApiToken))

#: Folds events into the catalog as it was at a point (``projections.point_in_time.catalog_at``).
CatalogReplay = Callable[[Iterable[Positioned], str, Point, "str | None"], dict[str, Any]]


class AuditService:
    """Reads the log in order (decoded events) and answers audit questions from it.

    When the reader can also read one tenant's events and locate a time (``tenant_events`` and
    ``position_at``, as the store's reader can), a catalog replays only that tenant's events up to
    the point, instead of decoding the whole log."""

    def __init__(self, read: Any, replay: CatalogReplay, batch: int = 1000) -> None:
        self.read = read  # (after, limit) -> [(position, event)]
        self.replay = replay
        self.batch = batch
        # (tenant, stop, skipped topic prefixes) -> iterator of (position, event)
        self.tenant_events = getattr(read, "tenant_events", None)
        self.position_at = getattr(read, "position_at", None)  # (time) -> position

    def events(self, after: int = 0) -> Iterator[Positioned]:
        position = after
        while True:
            items = self.read(position, self.batch)
            yield from items
            if len(items) < self.batch:
                return
            position = items[-1][0]

    def catalog(self, tenant_id: str, point: Point, server_id: str | None = None) -> dict[str, Any]:
        if self.tenant_events is None or (point.position is None and self.position_at is None):
            return self.replay(self.events(), tenant_id, point, server_id)
        stop = point.position if point.position is not None else self.position_at(point.time)  # type: ignore[misc]
        result = self.replay(
            self.tenant_events(tenant_id, stop, NOT_IN_CATALOGS), tenant_id, Point(position=stop), server_id
        )
        return {**result, "position": stop}

    def diff(self, tenant_id: str, start: Point, end: Point, server_id: str | None = None) -> dict[str, Any]:
        return diff_catalogs(self.catalog(tenant_id, start, server_id), self.catalog(tenant_id, end, server_id))


class AuditLog:
    """Who changed what, from the audit log projection: answered once it has reached the position of a
    write the caller made (``min_position``)."""

    def __init__(self, entries: AuditEntries, positions: ProjectionPositions, wait_s: float) -> None:
        self.entries = entries
        self.positions = positions
        self.wait_s = wait_s

    def feed(self, flt: AuditFilter, after: int, limit: int, min_position: int | None = None) -> list[dict[str, Any]]:
        """Entries matching ``flt`` after position ``after``, in log order. Raises: NotReadyError."""
        wait_for_position(self.positions, min_position, self.wait_s, "the audit log")
        return self.entries(flt, after, limit)
