"""A server's members changed one at a time (the admin UI's composer): worked out from the server as
stored, so a member added meanwhile by someone else stays, and conditional on the version the user saw."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest

from ledgergate.application.errors import ValidationError, VersionConflictError
from ledgergate.application.registry import Registry
from tests.application.fakes import envelope, head, new_registry


def tool(registry: Registry, name: str) -> str:
    schema = {"type": "object", "properties": {}}
    body = {"name": name, "input_schema": schema, "integration": {"method": "GET", "url": "https://api.example.com/x"}}
    return registry.create_entity(envelope(), "tool", body).id


def members(registry: Registry, server_id: str) -> Any:
    return registry.repository.get(UUID(server_id)).tool_ids


def test_an_added_member_joins_the_members_as_stored_and_a_removed_one_leaves_them() -> None:
    registry = new_registry()
    a, b, c = (tool(registry, name) for name in "abc")
    server = registry.create_entity(envelope(), "server", {"name": "s", "tool_ids": [a]})
    registry.update_entity(envelope(), "server", server.id, {"tool_ids": [a, b]})  # someone else, just now
    registry.change_members(envelope(), server.id, "tool_ids", c, add=True)
    assert sorted(members(registry, server.id)) == sorted([a, b, c])
    registry.change_members(envelope(), server.id, "tool_ids", c, add=True)  # added twice: once
    written = registry.change_members(envelope(), server.id, "tool_ids", a, add=False)
    assert sorted(members(registry, server.id)) == sorted([b, c]) and written.version == 4


def test_a_change_against_a_version_the_server_has_left_conflicts_and_writes_nothing() -> None:
    registry = new_registry()
    a, b = tool(registry, "a"), tool(registry, "b")
    server = registry.create_entity(envelope(), "server", {"name": "s"})
    registry.change_members(envelope(), server.id, "tool_ids", a, add=True, expected_version=1)
    before = head(registry)
    with pytest.raises(VersionConflictError):
        registry.change_members(envelope(), server.id, "tool_ids", b, add=True, expected_version=1)
    assert head(registry) == before and members(registry, server.id) == [a]


def test_a_member_that_is_not_in_the_tenant_is_refused() -> None:
    registry = new_registry()
    server = registry.create_entity(envelope(), "server", {"name": "s"})
    with pytest.raises(ValidationError):
        registry.change_members(envelope(), server.id, "tool_ids", "00000000-0000-0000-0000-000000000000", add=True)
