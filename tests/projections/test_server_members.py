"""A virtual server holding a whole upstream: the hot catalog and the point-in-time replay agree on its
members as the upstream's catalog changes."""

from __future__ import annotations

from typing import Any

import pytest

from ledgergate.application.audit import AuditService, Point
from ledgergate.application.errors import ValidationError
from ledgergate.application.upstream_catalog import DiscoveredCatalog
from ledgergate.infrastructure.eventstore import log_reader
from ledgergate.projections.hot_catalog import HotCatalogs
from ledgergate.projections.point_in_time import catalog_at
from tests.application.fakes import envelope, new_registry, tool


def discovered(*names: str) -> DiscoveredCatalog:
    tools = [{"name": n, "inputSchema": {"type": "object"}} for n in names]
    return DiscoveredCatalog("2025-11-25", {"name": "up"}, tools=tools)


def test_a_server_of_an_upstream_follows_its_tools_now_and_at_every_past_point() -> None:
    registry = new_registry()
    spec = {"name": "up", "transport": "streamable_http", "url": "http://127.0.0.1:9/mcp"}
    written, _ = registry.register_upstream(
        envelope(), registry.prepare_upstream(envelope(), spec), discovered("a", "b")
    )
    own = registry.create_entity(envelope(), "tool", tool(name="own")).id
    server = registry.create_entity(
        envelope(), "server", {"name": "mix", "upstream_ids": [written.id], "tool_ids": [own]}
    )
    before = server.position
    registry.refresh_upstream(envelope(), written.id, discovered("b", "c"))
    after = registry.recorder.max_notification_id()

    hot = HotCatalogs(log_reader(registry))
    hot.advance()
    snapshot = hot.get("acme", server.id)
    assert snapshot is not None
    assert sorted(r["name"] for r in snapshot.tools.values()) == ["own", "up__b", "up__c"]

    audit = AuditService(log_reader(registry), catalog_at)

    def names_at(position: int) -> list[Any]:
        return [t["name"] for t in audit.catalog("acme", Point(position=position), server.id)["tools"]]

    assert names_at(before) == ["own", "up__a", "up__b"]
    assert names_at(after) == ["own", "up__b", "up__c"]


def test_a_server_can_only_hold_upstreams_of_its_own_tenant() -> None:
    registry = new_registry(tenants=("acme", "other"))
    spec = {"name": "up", "transport": "streamable_http", "url": "http://127.0.0.1:9/mcp"}
    theirs = envelope("other")
    written, _ = registry.register_upstream(theirs, registry.prepare_upstream(theirs, spec), discovered("a"))
    with pytest.raises(ValidationError, match="upstream_ids"):
        registry.create_entity(envelope(), "server", {"name": "mix", "upstream_ids": [written.id]})
