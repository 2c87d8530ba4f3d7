"""Turning an upstream's discovered catalog into tools, resources and prompts, and diffing refreshes.

Each discovered item becomes an entity with a deterministic id (upstream id + kind + original name),
so discovery of the same item always lands on the same stream. Fields the upstream provides are
``UPSTREAM_FIELDS``; a field a user changed is listed in the entity's ``overrides`` and a refresh
leaves it alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID, uuid5

from ledgergate.domain.catalog import CatalogEntity
from ledgergate.domain.errors import InvalidValueError
from ledgergate.domain.prompt import Prompt
from ledgergate.domain.resource import Resource
from ledgergate.domain.tenant import NAMESPACE
from ledgergate.domain.tool import Tool
from ledgergate.domain.upstream import exposed_name

__all__ = ["UPSTREAM_FIELDS", "DiscoveredCatalog", "Plan", "PlannedItem", "item_id", "plan_items", "refreshed_changes"]

UPSTREAM_FIELDS: dict[str, tuple[str, ...]] = {
    "tool": ("title", "description", "input_schema", "output_schema", "annotations", "icons", "meta", "execution"),
    "resource": ("name", "title", "description", "mime_type", "icons", "meta"),
    "prompt": ("title", "description", "arguments", "icons", "meta"),
}
CLASSES: dict[str, type[CatalogEntity]] = {"tool": Tool, "resource": Resource, "prompt": Prompt}


@dataclass(frozen=True)
class DiscoveredCatalog:
    """What an upstream offered, in MCP wire form (camelCase keys)."""

    protocol_version: str
    server_info: dict[str, Any]
    tools: Sequence[dict[str, Any]] = ()
    resources: Sequence[dict[str, Any]] = ()
    prompts: Sequence[dict[str, Any]] = ()
    resource_templates: Sequence[dict[str, Any]] = ()


@dataclass
class PlannedItem:
    kind: str
    id: UUID
    original: str
    fields: dict[str, Any]


@dataclass
class Plan:
    items: list[PlannedItem] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)


def item_id(upstream_id: str, kind: str, original: str) -> UUID:
    return uuid5(NAMESPACE, f"upstream:{upstream_id}/{kind}/{original}")


def _text(value: Any, limit: int) -> str | None:
    """Upstream text as our fields take it: empty means absent, over-long is cut."""
    return value[:limit] if isinstance(value, str) and value.strip() else None


def _tool_fields(entry: dict[str, Any], name: str) -> dict[str, Any]:
    return {
        "name": name,
        "title": _text(entry.get("title"), 256),
        "description": _text(entry.get("description"), 8192),
        "input_schema": entry.get("inputSchema"),
        "output_schema": entry.get("outputSchema"),
        "annotations": {k: v for k, v in (entry.get("annotations") or {}).items() if v is not None},
        "icons": entry.get("icons"),
        "meta": entry.get("_meta"),
        "execution": entry.get("execution"),
    }


def _resource_fields(entry: dict[str, Any], _name: str) -> dict[str, Any]:
    return {
        "uri": entry.get("uri"),
        "name": _safe_name(entry.get("name") or "resource"),
        "title": _text(entry.get("title"), 256),
        "description": _text(entry.get("description"), 8192),
        "mime_type": _text(entry.get("mimeType"), 255) or "text/plain",
        "icons": entry.get("icons"),
        "meta": entry.get("_meta"),
    }


def _prompt_fields(entry: dict[str, Any], name: str) -> dict[str, Any]:
    arguments = [
        {"name": a.get("name"), "description": _text(a.get("description"), 8192), "required": bool(a.get("required"))}
        for a in entry.get("arguments") or []
    ]
    return {
        "name": name,
        "title": _text(entry.get("title"), 256),
        "description": _text(entry.get("description"), 8192),
        "arguments": arguments,
        "icons": entry.get("icons"),
        "meta": entry.get("_meta"),
    }


def _safe_name(name: str) -> str:
    return exposed_name("", {"enabled": False}, name) or "resource"


BUILDERS = {"tool": _tool_fields, "resource": _resource_fields, "prompt": _prompt_fields}


def plan_items(upstream_id: str, upstream_name: str, prefix: dict[str, Any], catalog: DiscoveredCatalog) -> Plan:
    """Validated entity fields for every usable item; the others are reported as skipped with the reason."""
    plan = Plan()
    # A resource template is kept as a resource whose URI is the template (its RFC 6570 braces are not
    # allowed in a concrete URI): listed in resources/templates/list, a read of a matching URI goes upstream.
    templates = [
        {**entry, "uri": entry.get("uriTemplate")} for entry in catalog.resource_templates if isinstance(entry, dict)
    ]
    entries = {"tool": catalog.tools, "resource": [*catalog.resources, *templates], "prompt": catalog.prompts}
    for kind, items in entries.items():
        seen: set[str] = set()
        for entry in items:
            original = entry.get("uri" if kind == "resource" else "name")
            if not isinstance(original, str) or not original:
                plan.skipped.append({"kind": kind, "name": str(original), "reason": "has no name"})
                continue
            if original in seen:
                plan.skipped.append({"kind": kind, "name": original, "reason": "listed twice by the upstream"})
                continue
            seen.add(original)
            name = exposed_name(upstream_name, prefix, original)
            raw = {**BUILDERS[kind](entry, name), "source": {"upstream_id": upstream_id, "original": original}}
            if kind == "tool":
                raw["integration"] = None
            if kind == "prompt":
                raw["template"] = None
            cls = CLASSES[kind]
            try:
                fields = cls.normalise({**cls.DEFAULTS, **raw})
            except InvalidValueError as exc:
                plan.skipped.append({"kind": kind, "name": original, "reason": str(exc)})
                continue
            plan.items.append(PlannedItem(kind, item_id(upstream_id, kind, original), original, fields))
    return plan


def refreshed_changes(
    kind: str, current: dict[str, Any], planned: dict[str, Any], overrides: Sequence[str]
) -> dict[str, Any]:
    """The upstream-provided fields that differ, leaving alone what a user overrode."""
    return {
        name: planned[name]
        for name in UPSTREAM_FIELDS[kind]
        if name not in overrides and current.get(name) != planned.get(name)
    }
