"""Reverts, virtual server members, and resource content through the registry."""

from __future__ import annotations

import base64
from uuid import UUID

import pytest

from ledgergate.application.errors import ConflictError, ValidationError
from ledgergate.domain.catalog import CatalogEntity
from ledgergate.domain.name_claim import claim_id
from tests.application.fakes import envelope, head, new_registry, tool


def test_reverting_restores_the_fields_of_an_earlier_version_and_history_records_reverted() -> None:
    registry = new_registry()
    written = registry.create_entity(envelope(), "tool", tool(description="first"))
    registry.update_entity(envelope(), "tool", written.id, {"description": "second", "tags": ["x"]})
    registry.change_entity(envelope(), "tool", written.id, "disable")

    reverted = registry.revert_entity(envelope(actor="bob"), "tool", written.id, 1)

    assert reverted.version == 4
    saved = registry.repository.get(UUID(written.id))
    assert (saved.description, saved.tags, saved.enabled) == ("first", [], True)
    last = list(registry.events.get(UUID(written.id)))[-1]
    assert isinstance(last, CatalogEntity.Reverted)
    assert (last.to_version, last.actor) == (1, "bob")


def test_reverting_a_deleted_tool_undeletes_it_and_reclaims_its_name() -> None:
    registry = new_registry()
    written = registry.create_entity(envelope(), "tool", tool())
    registry.change_entity(envelope(), "tool", written.id, "delete")

    registry.revert_entity(envelope(), "tool", written.id, 1)

    assert registry.repository.get(UUID(written.id)).deleted is False
    assert registry.repository.get(claim_id("acme", "tool", "search")).owner_id == written.id
    with pytest.raises(ConflictError):
        registry.create_entity(envelope(), "tool", tool())


def test_reverting_to_a_version_whose_name_is_now_taken_is_a_conflict_and_writes_nothing() -> None:
    registry = new_registry()
    written = registry.create_entity(envelope(), "tool", tool())
    registry.update_entity(envelope(), "tool", written.id, {"name": "lookup"})
    registry.create_entity(envelope(), "tool", tool())
    before = head(registry)

    with pytest.raises(ConflictError):
        registry.revert_entity(envelope(), "tool", written.id, 1)

    assert head(registry) == before
    assert registry.repository.get(UUID(written.id)).name == "lookup"


def test_reverting_a_rename_moves_the_claim_back_and_frees_the_later_name() -> None:
    registry = new_registry()
    written = registry.create_entity(envelope(), "tool", tool())
    registry.update_entity(envelope(), "tool", written.id, {"name": "lookup"})

    registry.revert_entity(envelope(), "tool", written.id, 1)

    assert registry.repository.get(UUID(written.id)).name == "search"
    assert registry.create_entity(envelope(), "tool", tool(name="lookup")).version == 1


@pytest.mark.parametrize("version", [0, 4, 3], ids=["zero", "future", "deleted-state"])
def test_reverting_to_a_version_that_does_not_exist_or_is_deleted_is_refused(version: int) -> None:
    registry = new_registry()
    written = registry.create_entity(envelope(), "tool", tool())
    registry.change_entity(envelope(), "tool", written.id, "disable")
    registry.change_entity(envelope(), "tool", written.id, "delete")
    before = head(registry)

    with pytest.raises(ValidationError) as raised:
        registry.revert_entity(envelope(), "tool", written.id, version)

    assert raised.value.extra["field"] == "version"
    assert head(registry) == before


def test_a_virtual_server_accepts_members_of_its_own_tenant() -> None:
    registry = new_registry()
    t = registry.create_entity(envelope(), "tool", tool())
    r = registry.create_entity(envelope(), "resource", {"uri": "file:///a.txt", "name": "a", "text": "A"})

    server = registry.create_entity(
        envelope(), "server", {"name": "research", "tool_ids": [t.id, t.id], "resource_ids": [r.id]}
    )

    saved = registry.repository.get(UUID(server.id))
    assert (saved.tool_ids, saved.resource_ids, saved.prompt_ids) == ([t.id], [r.id], [])


def test_a_virtual_server_refuses_a_tool_of_another_tenant_and_writes_nothing() -> None:
    registry = new_registry(("acme", "globex"))
    foreign = registry.create_entity(envelope("globex"), "tool", tool())
    before = head(registry)

    with pytest.raises(ValidationError) as raised:
        registry.create_entity(envelope(), "server", {"name": "research", "tool_ids": [foreign.id]})

    assert raised.value.extra["field"] == "tool_ids"
    assert head(registry) == before


def test_a_virtual_server_refuses_missing_deleted_and_wrong_kind_members() -> None:
    registry = new_registry()
    t = registry.create_entity(envelope(), "tool", tool())
    gone = registry.create_entity(envelope(), "tool", tool(name="gone"))
    registry.change_entity(envelope(), "tool", gone.id, "delete")
    server = registry.create_entity(envelope(), "server", {"name": "research", "tool_ids": [t.id]})

    for fields in (
        {"tool_ids": ["00000000-0000-0000-0000-000000000001"]},
        {"tool_ids": [gone.id]},
        {"prompt_ids": [t.id]},
    ):
        with pytest.raises(ValidationError):
            registry.update_entity(envelope(), "server", server.id, fields)

    assert registry.repository.get(UUID(server.id)).version == 1


def test_a_resource_over_the_size_limit_is_refused() -> None:
    registry = new_registry(resource_max_bytes=8)

    at_limit = registry.create_entity(envelope(), "resource", {"uri": "file:///a", "name": "a", "text": "12345678"})
    with pytest.raises(ValidationError, match="over the limit"):
        registry.create_entity(envelope(), "resource", {"uri": "file:///b", "name": "b", "text": "123456789"})
    with pytest.raises(ValidationError, match="over the limit"):
        registry.update_entity(envelope(), "resource", at_limit.id, {"blob": base64.b64encode(b"x" * 9).decode()})

    assert registry.repository.get(UUID(at_limit.id)).text == "12345678"


def test_giving_a_resource_a_blob_clears_its_text_and_back() -> None:
    registry = new_registry()
    written = registry.create_entity(envelope(), "resource", {"uri": "file:///a", "name": "a", "text": "hello"})
    blob = base64.b64encode(b"\x00\x01").decode()

    registry.update_entity(envelope(), "resource", written.id, {"blob": blob, "mime_type": "application/octet-stream"})
    as_blob = registry.repository.get(UUID(written.id))
    registry.update_entity(envelope(), "resource", written.id, {"text": "again"})
    as_text = registry.repository.get(UUID(written.id))

    assert (as_blob.text, as_blob.blob) == (None, blob)
    assert (as_text.text, as_text.blob) == ("again", None)
    with pytest.raises(ValidationError):
        registry.create_entity(envelope(), "resource", {"uri": "file:///c", "name": "c", "text": "t", "blob": blob})
