"""From a parsed ContextForge configuration export to a plan of Ledgergate commands (pure: no I/O, no store).

The export is what ContextForge's ``GET /export`` and ``mcpgateway export`` write: ``version``,
``exported_at``, ``entities`` ({tools, gateways, servers, prompts, resources, roots}) and ``metadata``.
The plan lists create commands in dependency order (upstreams, tools, resources, prompts, then the
virtual servers that hold them), every entry it skips with the reason, and the secrets it can't read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ledgergate.application.contextforge_mapping import (
    PlannedCommand,
    Skip,
    UnreadableSecret,
    cf_slug,
    clean_tags,
    map_gateway,
    map_prompt,
    map_resource,
    map_tool,
    slug_name,
)

__all__ = [
    "ContextForgePlan",
    "ExportFormatError",
    "PlannedCommand",
    "SkippedItem",
    "UnreadableSecret",
    "plan_contextforge_import",
]

ENTITY_TYPES = ("gateways", "tools", "resources", "prompts", "servers", "roots")
SERVER_MEMBERS = {"tool_ids": "tools", "resource_ids": "resources", "prompt_ids": "prompts"}
ROOTS_REASON = (
    "there is no roots entity here: MCP clients declare their own roots (roots/list) and the gateway "
    "relays them to upstreams during a call"
)


class ExportFormatError(ValueError):
    """The file is not a ContextForge export; the message names what is wrong. Nothing is imported."""


@dataclass(frozen=True)
class SkippedItem:
    source: str
    name: str
    reason: str


@dataclass
class ContextForgePlan:
    export: dict[str, Any]
    commands: list[PlannedCommand] = field(default_factory=list)
    skipped: list[SkippedItem] = field(default_factory=list)
    secrets: list[UnreadableSecret] = field(default_factory=list)


def _entries(export: Any) -> dict[str, list[dict[str, Any]]]:
    if not isinstance(export, dict):
        raise ExportFormatError("the top level must be a JSON object (a ContextForge export)")
    for key in ("version", "exported_at", "entities"):
        if key not in export:
            raise ExportFormatError(f"missing required field {key!r}: not a ContextForge export")
    entities = export["entities"]
    if not isinstance(entities, dict):
        raise ExportFormatError("'entities' must be an object of entity lists")
    for kind, items in entities.items():
        if not isinstance(items, list):
            raise ExportFormatError(f"entities.{kind} must be a list")
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                raise ExportFormatError(f"entities.{kind}[{index}] must be an object")
    return entities


def _label(kind: str, index: int, entry: dict[str, Any]) -> tuple[str, str]:
    name = entry.get("name") or entry.get("uri") or "(unnamed)"
    return f"{kind}[{index}]", str(name)


def plan_contextforge_import(export: Any) -> ContextForgePlan:
    """The commands that recreate the export's items, in order. Raises: ExportFormatError."""
    entities = _entries(export)
    plan = ContextForgePlan(
        export={k: export.get(k) for k in ("version", "exported_at", "exported_by", "source_gateway")}
    )
    mappers: dict[str, Callable[[dict[str, Any], str], PlannedCommand]] = {
        "gateways": lambda e, s: map_gateway(e, s, plan.secrets),
        "tools": lambda e, s: map_tool(e, s, plan.secrets),
        "resources": map_resource,
        "prompts": map_prompt,
    }
    refs = _References()
    seen: set[tuple[str, str]] = set()
    for kind in ("gateways", "tools", "resources", "prompts", "servers"):
        for index, entry in enumerate(entities.get(kind, [])):
            source, name = _label(kind, index, entry)
            try:
                command = _map_server(entry, source, refs) if kind == "servers" else mappers[kind](entry, source)
                if (command.kind, command.name) in seen:
                    raise Skip(f"an earlier entry of the export is also named {command.name!r} here")
            except Skip as exc:
                plan.skipped.append(SkippedItem(source, name, str(exc)))
                refs.add_skipped(kind, entry, str(exc))
                continue
            seen.add((command.kind, command.name))
            plan.commands.append(command)
            refs.add(kind, entry, command)
    for index, entry in enumerate(entities.get("roots", [])):
        source, name = _label("roots", index, entry)
        plan.skipped.append(SkippedItem(source, str(entry.get("uri") or name), ROOTS_REASON))
    for kind in entities:
        if kind not in ENTITY_TYPES:
            plan.skipped.append(
                SkippedItem(f"entities.{kind}", f"{len(entities[kind])} item(s)", "unknown entity type")
            )
    return plan


class _References:
    """What a server's member references can point at: ContextForge refers to tools by name or slug."""

    def __init__(self) -> None:
        self.planned: dict[str, dict[str, str]] = {kind: {} for kind in SERVER_MEMBERS.values()}
        self.skipped: dict[str, dict[str, str]] = {kind: {} for kind in SERVER_MEMBERS.values()}
        self.gateways: list[str] = []
        self.federated: dict[str, str] = {}

    @staticmethod
    def _keys(entry: dict[str, Any]) -> set[str]:
        keys = {str(entry[k]) for k in ("id", "name", "uri", "original_name") if entry.get(k)}
        return keys | {cf_slug(k) for k in keys if "://" not in k}

    def add(self, kind: str, entry: dict[str, Any], command: PlannedCommand) -> None:
        if kind == "gateways":
            self.gateways.append(cf_slug(str(entry.get("name"))))
        elif kind in self.planned:
            self.planned[kind].update(dict.fromkeys(self._keys(entry) | {command.name}, command.name))

    def add_skipped(self, kind: str, entry: dict[str, Any], reason: str) -> None:
        if kind == "tools" and str(entry.get("integration_type")).upper() == "MCP":
            gateway = entry.get("gateway_name") or entry.get("gateway_id")
            self.federated.update(
                dict.fromkeys(self._keys(entry), cf_slug(str(gateway)) if gateway else "its upstream")
            )
        elif kind in self.skipped:
            self.skipped[kind].update(dict.fromkeys(self._keys(entry), reason))

    def from_upstream(self, ref: str) -> str | None:
        """The upstream whose discovery brings ``ref`` (ContextForge names federated tools ``<gateway>-<tool>``)."""
        if ref in self.federated or cf_slug(ref) in self.federated:
            return self.federated.get(ref) or self.federated[cf_slug(ref)]
        return next((g for g in self.gateways if cf_slug(ref).startswith(g + "-")), None)


def _map_server(entry: dict[str, Any], source: str, refs: _References) -> PlannedCommand:
    """A virtual server; created only when each member is imported too or comes with an upstream."""
    raw_name = entry.get("name")
    if not isinstance(raw_name, str) or not raw_name.strip():
        raise Skip("it has no name")
    notes: list[str] = []
    name = slug_name(raw_name, notes)
    members: dict[str, tuple[str, ...]] = {}
    missing: list[str] = []
    for field_name, kind in SERVER_MEMBERS.items():
        found: list[str] = []
        for ref in _member_refs(entry, kind):
            resolved = refs.planned[kind].get(ref) or refs.planned[kind].get(cf_slug(ref))
            upstream = refs.from_upstream(ref) if kind == "tools" else None
            if resolved is not None:
                found.append(resolved)
            elif upstream is not None:
                notes.append(
                    f"{kind[:-1]} {ref!r} comes from upstream {upstream!r}: add it once that upstream is enabled"
                )
            elif (reason := refs.skipped[kind].get(ref) or refs.skipped[kind].get(cf_slug(ref))) is not None:
                missing.append(f"{kind[:-1]} {ref!r} was skipped ({reason})")
            else:
                missing.append(f"{kind[:-1]} {ref!r} is not in the export")
        members[field_name] = tuple(dict.fromkeys(found))
    if missing:
        raise Skip("not every member can be imported: " + "; ".join(missing))
    tags = clean_tags(entry, notes)
    body = {"name": name, "description": entry.get("description"), "tags": tags, **{f: [] for f in SERVER_MEMBERS}}
    enabled = entry.get("is_active", entry.get("enabled", True)) is not False
    if not enabled:
        notes.append("imported disabled: it was inactive in ContextForge")
    return PlannedCommand("server", name, body, source, enabled, tuple(notes), members)


def _member_refs(entry: dict[str, Any], kind: str) -> list[str]:
    keys = {
        "tools": ("tool_ids", "associated_tools"),
        "resources": ("associated_resources",),
        "prompts": ("associated_prompts",),
    }
    for key in keys[kind]:
        value = entry.get(key)
        if isinstance(value, list) and value:
            return [str(v) for v in value]
    return []
