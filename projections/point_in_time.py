"""The catalog as it was at a point of the log, folded in memory with the projections' own ``evolve``.

So the catalog "at" a position is exactly what the live projection showed when the log stood there.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ledgergate.application.audit import Point, Positioned
from ledgergate.application.secrets import mask_secrets
from ledgergate.projections.catalog import Row, evolve, server_members

__all__ = ["catalog_at"]

CATALOG_KINDS = ("tool", "resource", "prompt", "server")


def catalog_at(
    events: Iterable[Positioned], tenant_id: str, point: Point, server_id: str | None = None
) -> dict[str, Any]:
    """The tenant's tools, resources, prompts and servers as they were at ``point`` (enabled or not)."""
    rows: dict[str, Row] = {}
    reached = 0
    for position, event in events:
        if not point.includes(position, event):
            break
        reached = position
        if event.tenant_id != tenant_id:
            continue
        key = str(event.originator_id)
        new = evolve(rows.get(key), event, position)
        if new is not None:
            rows[key] = new
    live = [r for r in rows.values() if not r["deleted"] and r["kind"] in CATALOG_KINDS]
    if server_id is not None:
        server = rows.get(server_id)
        if server is None or server["deleted"] or server["kind"] != "server":
            return {"position": reached, "server": None, "tools": [], "resources": [], "prompts": [], "servers": []}
        live = [*server_members(server, {r["id"]: r for r in live}), server]
    result: dict[str, Any] = {"position": reached}
    for kind, plural in (("tool", "tools"), ("resource", "resources"), ("prompt", "prompts"), ("server", "servers")):
        result[plural] = sorted((_shown(r) for r in live if r["kind"] == kind), key=lambda r: (r["name"], r["id"]))
    return result


def _shown(row: Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "enabled": row["enabled"],
        "version": row["version"],
        "updated_at": row["updated_at"],
        "updated_by": row["updated_by"],
        "fields": mask_secrets(row["doc"]),
    }
