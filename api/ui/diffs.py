"""An entity's history as a timeline: the state after each version and what changed field by field."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["FieldChange", "Step", "timeline"]

_LIFECYCLE = {"Enabled": ("enabled", True), "Disabled": ("enabled", False), "Deleted": ("deleted", True)}


@dataclass(frozen=True)
class FieldChange:
    name: str
    before: Any
    after: Any
    added: bool = False
    removed: bool = False


@dataclass
class Step:
    version: int
    event: str
    actor: str | None
    occurred_at: str
    to_version: int | None = None
    changes: list[FieldChange] = field(default_factory=list)
    #: what an event says besides field changes (an upstream's health detail, what a sync added): (label, text)
    details: list[tuple[str, str]] = field(default_factory=list)


def _changes(before: dict[str, Any], after: dict[str, Any]) -> list[FieldChange]:
    out = []
    for name in sorted(before.keys() | after.keys()):
        old, new = before.get(name), after.get(name)
        if old == new or (name not in before and (new in (None, [], {}, "") or name == "deleted")):
            continue
        out.append(FieldChange(name, old, new, added=name not in before, removed=name not in after))
    return out


def timeline(versions: list[dict[str, Any]]) -> list[Step]:
    """Versions as ``RegistryQueries.history`` returns them, newest first, each with its field diff."""
    state: dict[str, Any] = {}
    steps = []
    for version in versions:
        before = dict(state)
        event = version["event"]
        if "fields" in version:
            state = {**(version.get("fields") or {}), "enabled": True, "deleted": False}
        elif "changes" in version:
            state.update(version["changes"] or {})
        elif "state" in version:
            state = {**(version["state"] or {}), "deleted": False}
        elif event in _LIFECYCLE:
            name, value = _LIFECYCLE[event]
            state[name] = value
        steps.append(
            Step(
                version=version["version"],
                event=event,
                actor=version.get("actor"),
                occurred_at=version["occurred_at"],
                to_version=version.get("to_version"),
                changes=_changes(before, state),
                details=list(version.get("details") or []),
            )
        )
    return list(reversed(steps))
