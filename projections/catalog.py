"""The catalog read model: one row per tenant, tool, resource, prompt, virtual server and token.

``evolve`` is a pure fold: given a row (or None) and the next event of its stream, it returns the
new row (or None when the event does not concern this read model). A row keeps deleted entities
(``deleted=True``) so a revert can bring them back with their creation time; queries hide them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from eventsourcing.utils import get_topic

from ledgergate.domain.api_token import ApiToken
from ledgergate.domain.catalog import CatalogEntity
from ledgergate.domain.envelope import RegistryAggregate
from ledgergate.domain.prompt import Prompt
from ledgergate.domain.resource import Resource
from ledgergate.domain.tenant import Tenant
from ledgergate.domain.tool import Tool
from ledgergate.domain.upstream import Upstream
from ledgergate.domain.virtual_server import VirtualServer

__all__ = ["MEMBER_FIELDS", "PROJECTION_NAME", "Row", "evolve", "member_rows", "server_members", "tag_rows"]

#: Versioned, so that a changed projection can be rebuilt beside the old one.
PROJECTION_NAME = "catalog_v1"
Row = dict[str, Any]

_KIND_BY_TOPIC = {get_topic(cls): cls for cls in (Tool, Resource, Prompt, VirtualServer, Tenant, ApiToken, Upstream)}
_NAME_FIELD = {cls.KIND: getattr(cls, "NAME_FIELD", "name") for cls in _KIND_BY_TOPIC.values()}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _name_of(cls: type[Any], doc: dict[str, Any]) -> str:
    return str(doc[_NAME_FIELD[cls.KIND]])


def _created(event: Any) -> Row | None:
    cls = _KIND_BY_TOPIC.get(event.originator_topic)
    if cls is None:
        return None
    if cls is ApiToken:
        doc = {
            "name": event.name,
            "subject": event.subject,
            "role": event.role,
            "server_ids": event.server_ids,
            "expires_at": _iso(event.expires_at),
            "revoked": False,
        }
    else:
        doc = dict(event.fields)
    return {
        "id": str(event.originator_id),
        "tenant_id": event.tenant_id,
        "kind": cls.KIND,
        "name": _name_of(cls, doc),
        "enabled": True,
        "deleted": False,
        "created_at": event.timestamp.isoformat(),
        "doc": doc,
    }


def _changed(row: Row, event: Any) -> Row:
    row = {**row, "doc": dict(row["doc"])}
    if isinstance(event, CatalogEntity.Updated):
        row["doc"].update(event.changes)
    elif isinstance(event, CatalogEntity.Enabled):
        row["enabled"] = True
    elif isinstance(event, CatalogEntity.Disabled):
        row["enabled"] = False
    elif isinstance(event, CatalogEntity.Deleted):
        row["deleted"] = True
    elif isinstance(event, CatalogEntity.Reverted):
        state = dict(event.state)
        row["enabled"] = bool(state.pop("enabled", True))
        row["doc"].update(state)
        row["deleted"] = False
    elif isinstance(event, Upstream.HealthChanged):
        row["doc"]["health"] = {"state": event.state, "detail": event.detail, "since": event.timestamp.isoformat()}
    elif isinstance(event, Upstream.CatalogSynced):
        row["doc"]["items"] = event.items
    elif isinstance(event, ApiToken.Revoked):
        row["doc"]["revoked"] = True
        row["enabled"] = False
    row["name"] = str(row["doc"].get(_NAME_FIELD.get(row["kind"], "name"), row["name"]))
    return row


def evolve(row: Row | None, event: Any, position: int) -> Row | None:
    """The row after ``event`` (recorded at global ``position``); None if this model ignores the stream."""
    if isinstance(event, RegistryAggregate.Created):
        new = _created(event)
    elif row is None:
        return None
    else:
        new = _changed(row, event)
    if new is None:
        return None
    new.update(
        version=event.originator_version,
        updated_at=event.timestamp.isoformat(),
        updated_by=event.actor,
        position=position,
    )
    return new


def tag_rows(row: Row) -> list[tuple[str, str]]:
    return [(row["id"], tag) for tag in row["doc"].get("tags") or []] if not row["deleted"] else []


#: A server's member fields, by the kind of member they hold.
MEMBER_FIELDS = {"tool": "tool_ids", "resource": "resource_ids", "prompt": "prompt_ids", "upstream": "upstream_ids"}


def server_members(server: Row, rows: Mapping[str, Row]) -> list[Row]:
    """The rows a virtual server shows: its tools, resources and prompts, and all items of its upstreams
    (the whole tenant is scanned only for a server that has upstreams)."""
    doc = server["doc"]
    listed = {m for kind, f in MEMBER_FIELDS.items() if kind != "upstream" for m in doc.get(f) or []}
    members = [rows[m] for m in sorted(listed) if m in rows]
    upstreams = set(doc.get("upstream_ids") or [])
    if upstreams:
        members += [
            row
            for row in rows.values()
            if row["id"] not in listed and (row["doc"].get("source") or {}).get("upstream_id") in upstreams
        ]
    return members


def member_rows(row: Row) -> list[tuple[str, str, str]]:
    if row["kind"] != "server" or row["deleted"]:
        return []
    doc = row["doc"]
    return [(row["id"], kind, member_id) for kind, field in MEMBER_FIELDS.items() for member_id in doc.get(field) or []]
