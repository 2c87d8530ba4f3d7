"""An edit of an upstream made against an earlier version (``If-Match``, the edit form, ``--if-version``):
what the supervisor records meanwhile (health, catalog syncs) leaves it valid; a change of the upstream's
settings (update, enable, disable, delete) makes it a version conflict that writes nothing."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest

from ledgergate.application.errors import VersionConflictError
from ledgergate.application.registry import Registry
from ledgergate.application.upstream_catalog import DiscoveredCatalog
from ledgergate.domain.upstream import Upstream
from tests.application.fakes import envelope, head, new_registry


def catalog(*tools: str) -> DiscoveredCatalog:
    return DiscoveredCatalog(
        "2025-06-18", {"name": "beta"}, tools=[{"name": t, "inputSchema": {"type": "object"}} for t in tools]
    )


def registered(registry: Registry) -> str:
    fields = registry.prepare_upstream(
        envelope(), {"name": "beta", "transport": "streamable_http", "url": "http://127.0.0.1:9/mcp"}
    )
    written, _ = registry.register_upstream(envelope(), fields, catalog("echo"))
    return written.id


def upstream_of(registry: Registry, upstream_id: str) -> Upstream:
    upstream: Upstream = registry.repository.get(UUID(upstream_id))
    return upstream


def conflict(registry: Registry, upstream_id: str, fields: dict[str, Any], version: int) -> VersionConflictError:
    before = head(registry)
    with pytest.raises(VersionConflictError) as raised:
        registry.update_upstream(envelope(), upstream_id, fields, expected_version=version)
    assert head(registry) == before  # nothing written
    return raised.value


def test_an_edit_against_a_version_older_only_by_health_and_sync_events_succeeds() -> None:
    registry = new_registry()
    upstream_id = registered(registry)
    seen = upstream_of(registry, upstream_id).version  # what the user loaded
    registry.record_upstream_health(envelope(), upstream_id, "healthy", "initialized in 3 ms")
    registry.refresh_upstream(envelope(), upstream_id, catalog("echo", "grown"))  # CatalogSynced
    registry.record_upstream_health(envelope(), upstream_id, "unreachable", "connection refused")
    assert upstream_of(registry, upstream_id).version == seen + 3

    written = registry.update_upstream(envelope(), upstream_id, {"description": "edited"}, expected_version=seen)

    upstream = upstream_of(registry, upstream_id)
    assert (written.version, upstream.version, upstream.description) == (seen + 4, seen + 4, "edited")
    assert upstream.health == "unreachable"  # what the supervisor recorded stays
    assert sorted(i["original"] for i in upstream.items.values()) == ["echo", "grown"]


def test_an_edit_against_a_version_older_by_a_settings_change_is_a_version_conflict() -> None:
    registry = new_registry()
    upstream_id = registered(registry)
    seen = upstream_of(registry, upstream_id).version
    registry.update_upstream(envelope(), upstream_id, {"description": "first"}, expected_version=seen)
    registry.record_upstream_health(envelope(), upstream_id, "healthy", None)  # a probe after it changes nothing

    raised = conflict(registry, upstream_id, {"description": "second"}, seen)

    assert raised.extra["current_version"] == seen + 2
    assert upstream_of(registry, upstream_id).description == "first"


@pytest.mark.parametrize("action", ["disable", "enable", "delete"])
def test_an_edit_against_a_version_before_a_lifecycle_change_is_a_version_conflict(action: str) -> None:
    registry = new_registry()
    upstream_id = registered(registry)
    if action == "enable":
        registry.change_upstream(envelope(), upstream_id, "disable")
    seen = upstream_of(registry, upstream_id).version
    registry.change_upstream(envelope(), upstream_id, action)  # Disabled/Enabled come with ItemsSuspended
    registry.record_upstream_health(envelope(), upstream_id, "healthy", None)

    conflict(registry, upstream_id, {"description": "late"}, seen)

    assert upstream_of(registry, upstream_id).description is None


def test_two_edits_made_against_the_same_version_the_second_conflicts() -> None:
    registry = new_registry()
    upstream_id = registered(registry)
    seen = upstream_of(registry, upstream_id).version
    registry.record_upstream_health(envelope(), upstream_id, "healthy", None)

    registry.update_upstream(envelope(), upstream_id, {"timeout_s": 5}, expected_version=seen)
    conflict(registry, upstream_id, {"timeout_s": 9}, seen)

    assert upstream_of(registry, upstream_id).timeout_s == 5


def test_an_expected_version_the_upstream_never_had_is_a_version_conflict() -> None:
    registry = new_registry()
    upstream_id = registered(registry)
    current = upstream_of(registry, upstream_id).version

    for version in (current + 1, 0, -1):
        assert conflict(registry, upstream_id, {"description": "x"}, version).extra["current_version"] == current
