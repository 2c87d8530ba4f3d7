"""Applying a ContextForge import plan to one tenant through the registry's commands, item by item.

Each planned item is one command, so every item is reported on its own: created, exists (its name is
taken in the tenant: re-running an import changes nothing), or failed with the reason. Items that
start disabled are recorded disabled in the same save that creates them, so an upstream never
connects during an import and a tool is never served for a moment. Virtual servers come last and are
created only when every member they hold is there; a server is never left holding part of what it held
in ContextForge.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from ledgergate.application.contextforge_plan import ContextForgePlan, PlannedCommand
from ledgergate.application.errors import ApplicationError, NotFoundError
from ledgergate.application.registry import Registry
from ledgergate.application.upstream_catalog import DiscoveredCatalog
from ledgergate.domain.envelope import Envelope
from ledgergate.domain.name_claim import NameClaim, claim_id

__all__ = ["IMPORT_ACTOR", "import_contextforge"]

IMPORT_ACTOR = "cli:contextforge-import"
NOT_DISCOVERED = DiscoveredCatalog(protocol_version="", server_info={})
DRY_RUN_ID = "(new)"


def _existing_id(registry: Registry, tenant_id: str, kind: str, name: str) -> str | None:
    """The id of the live item holding ``name`` in the tenant: the same uniqueness rule the commands enforce."""
    cid = claim_id(tenant_id, kind, name)
    if cid not in registry.repository:
        return None
    claim: NameClaim = registry.repository.get(cid)
    return claim.owner_id


def _create(registry: Registry, envelope: Envelope, command: PlannedCommand, body: dict[str, Any]) -> str:
    if command.kind == "upstream":
        sealed = registry.prepare_upstream(envelope, body)
        written, _ = registry.register_upstream(envelope, sealed, NOT_DISCOVERED, enabled=False)
        return str(written.id)
    return registry.create_entity(envelope, command.kind, body, enabled=command.enabled).id


def _check(registry: Registry, envelope: Envelope, command: PlannedCommand, body: dict[str, Any]) -> str | None:
    """Why creating the item would fail (the same validation as the real import), or None."""
    try:
        if command.kind == "upstream":
            registry.prepare_upstream(envelope, body)
        else:  # members that a dry run would create don't exist yet: validate the rest
            known = {f: [m for m in body[f] if m != DRY_RUN_ID] for f in command.members if f in body}
            registry.check_entity(envelope, command.kind, {**body, **known})
    except ApplicationError as exc:
        return exc.detail
    return None


def _server_body(command: PlannedCommand, ids: dict[tuple[str, str], str]) -> tuple[dict[str, Any], list[str]]:
    body = dict(command.body)
    missing: list[str] = []
    for field_name, names in command.members.items():
        kind = field_name.removesuffix("_ids")
        body[field_name] = [ids[(kind, n)] for n in names if (kind, n) in ids]
        missing += [f"{kind} {n!r}" for n in names if (kind, n) not in ids]
    return body, missing


def import_contextforge(
    registry: Registry,
    tenant_id: str,
    plan: ContextForgePlan,
    dry_run: bool = False,
    actor: str = IMPORT_ACTOR,
    on_item: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Create the plan's items in the tenant (or only report what would happen); ``on_item`` is told each
    item's outcome as it is decided. Raises: NotFound/ForbiddenError."""
    try:
        registry.require_tenant(tenant_id)
    except NotFoundError:
        raise NotFoundError(f"no tenant {tenant_id!r}; create it first") from None
    envelope = Envelope(tenant_id, actor, f"contextforge-import:{uuid.uuid4()}", "contextforge-import")
    ids: dict[tuple[str, str], str] = {}
    items: list[dict[str, Any]] = []
    for command in plan.commands:
        if on_item is not None and items:
            on_item(items[-1])
        item: dict[str, Any] = {
            "kind": command.kind,
            "name": command.name,
            "source": command.source,
            "enabled": command.enabled,
            "notes": list(command.notes),
        }
        items.append(item)
        existing = _existing_id(registry, tenant_id, command.kind, command.name)
        if existing is not None:
            ids[(command.kind, command.name)] = existing
            item.update(status="exists", id=existing, reason=f"a {command.kind} named {command.name!r} exists")
            continue
        body, missing = _server_body(command, ids) if command.kind == "server" else (command.body, [])
        if missing:
            item.update(status="skipped", reason="member(s) not imported: " + ", ".join(missing))
            continue
        if dry_run:
            problem = _check(registry, envelope, command, body)
            if problem is not None:
                item.update(status="would fail", reason=problem)
                continue
            ids[(command.kind, command.name)] = DRY_RUN_ID
            item.update(status="would create")
            continue
        try:
            ids[(command.kind, command.name)] = item["id"] = _create(registry, envelope, command, body)
            item["status"] = "created"
        except ApplicationError as exc:
            item.update(status="failed", reason=exc.detail)
    if on_item is not None and items:
        on_item(items[-1])
    statuses = [i["status"] for i in items]
    return {
        "tenant": tenant_id,
        "dry_run": dry_run,
        "export": plan.export,
        "items": items,
        "skipped": [asdict(s) for s in plan.skipped],
        "secrets": [asdict(s) for s in plan.secrets],
        "counts": {
            **{s: statuses.count(s) for s in ("created", "would create", "exists", "failed", "would fail")},
            "skipped": statuses.count("skipped") + len(plan.skipped),
        },
    }
