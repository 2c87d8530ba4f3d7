"""Registry commands on catalog entities: what they write, what they refuse, and that a refusal writes nothing."""

from __future__ import annotations

from uuid import UUID

import pytest

from ledgergate.application.errors import ConflictError, GoneError, NotFoundError, ValidationError, VersionConflictError
from ledgergate.domain.envelope import recording
from ledgergate.domain.name_claim import claim_id
from ledgergate.domain.tool import Tool
from tests.application.fakes import envelope, head, new_registry, raw_log, tool


def test_creating_a_tool_writes_its_registration_and_name_claim_and_reports_the_position() -> None:
    registry = new_registry()
    before = head(registry)

    written = registry.create_entity(envelope(), "tool", tool())

    assert (written.version, written.position) == (1, before + 2)
    saved: Tool = registry.repository.get(UUID(written.id))
    assert (saved.name, saved.tenant_id, saved.enabled) == ("search", "acme", True)
    assert registry.repository.get(claim_id("acme", "tool", "search")).owner_id == written.id


def test_a_tool_secret_is_sealed_and_the_stored_events_never_hold_the_plaintext() -> None:
    registry = new_registry()

    written = registry.create_entity(envelope(), "tool", tool())
    registry.update_entity(
        envelope(),
        "tool",
        written.id,
        {"integration": {**tool()["integration"], "headers": {"X-Api-Key": "rotated-9"}}},
    )

    log = raw_log(registry)
    assert b"k-plaintext-123" not in log
    assert b"rotated-9" not in log
    assert b"321-txetnialp-k" in log  # the fake cipher's ciphertext: sealed, not dropped
    saved: Tool = registry.repository.get(UUID(written.id))
    assert saved.integration["headers"]["X-Api-Key"] == {"$secret": {"key_id": "key-acme", "ciphertext": "9-detator"}}


def test_sending_the_mask_on_update_keeps_the_previously_sealed_secret() -> None:
    registry = new_registry()
    written = registry.create_entity(envelope(), "tool", tool())
    sealed_before = registry.repository.get(UUID(written.id)).integration["headers"]["X-Api-Key"]

    masked = {**tool()["integration"], "method": "POST", "headers": {"X-Api-Key": "********"}}
    registry.update_entity(envelope(), "tool", written.id, {"integration": masked})

    saved: Tool = registry.repository.get(UUID(written.id))
    assert saved.integration["method"] == "POST"
    assert saved.integration["headers"]["X-Api-Key"] == sealed_before
    assert b"********" not in raw_log(registry)


def test_the_mask_for_a_secret_that_was_never_stored_is_refused() -> None:
    registry = new_registry()
    before = head(registry)

    bearer_mask = {**tool()["integration"], "auth": {"type": "bearer", "token": "********"}}
    with pytest.raises(ValidationError, match="mask"):
        registry.create_entity(envelope(), "tool", tool(integration=bearer_mask))

    assert head(registry) == before


def test_a_second_tool_with_a_taken_name_is_a_conflict_and_writes_nothing() -> None:
    registry = new_registry(("acme", "globex"))
    first = registry.create_entity(envelope(), "tool", tool())
    before = head(registry)

    with pytest.raises(ConflictError) as raised:
        registry.create_entity(envelope(), "tool", tool(description="another"))

    assert raised.value.extra["existing_id"] == first.id
    assert head(registry) == before
    assert registry.create_entity(envelope("globex"), "tool", tool()).version == 1  # names are per tenant


def test_an_invalid_tool_is_a_validation_error_naming_the_field_and_writes_nothing() -> None:
    registry = new_registry()
    before = head(registry)

    with pytest.raises(ValidationError) as raised:
        registry.create_entity(envelope(), "tool", tool(input_schema={"type": "array"}))

    assert raised.value.extra["field"] == "input_schema"
    assert head(registry) == before


def test_an_update_with_a_stale_expected_version_is_a_version_conflict_and_writes_nothing() -> None:
    registry = new_registry()
    written = registry.create_entity(envelope(), "tool", tool())
    registry.update_entity(envelope(), "tool", written.id, {"description": "v2"}, expected_version=1)
    before = head(registry)

    with pytest.raises(VersionConflictError) as raised:
        registry.update_entity(envelope(), "tool", written.id, {"description": "v3"}, expected_version=1)

    assert raised.value.extra["current_version"] == 2
    assert head(registry) == before
    assert registry.repository.get(UUID(written.id)).description == "v2"


def test_when_two_writers_race_on_one_tool_the_second_commit_is_a_version_conflict() -> None:
    registry = new_registry()
    written = registry.create_entity(envelope(), "tool", tool())
    first: Tool = registry.repository.get(UUID(written.id))
    second: Tool = registry.repository.get(UUID(written.id))
    with recording(envelope()):
        first.update({"description": "one"})
        second.update({"description": "two"})

    assert registry._commit(first).version == 2
    before = head(registry)
    with pytest.raises(VersionConflictError):
        registry._commit(second)

    assert head(registry) == before
    assert registry.repository.get(UUID(written.id)).description == "one"


def test_an_update_that_changes_nothing_writes_nothing_and_does_not_notify() -> None:
    saved_positions: list[int] = []
    registry = new_registry(on_saved=saved_positions.append)
    written = registry.create_entity(envelope(), "tool", tool())
    before = head(registry)

    again = registry.update_entity(envelope(), "tool", written.id, {"description": None, "name": "search"})

    assert (again.version, again.position) == (1, before)
    assert head(registry) == before
    assert saved_positions[-1] == written.position


def test_renaming_a_tool_frees_its_old_name() -> None:
    registry = new_registry()
    written = registry.create_entity(envelope(), "tool", tool())

    registry.update_entity(envelope(), "tool", written.id, {"name": "lookup"})

    with pytest.raises(ConflictError):
        registry.create_entity(envelope(), "tool", tool(name="lookup"))
    reused = registry.create_entity(envelope(), "tool", tool())
    assert registry.repository.get(claim_id("acme", "tool", "search")).owner_id == reused.id


def test_renaming_onto_a_taken_name_is_a_conflict_and_writes_nothing() -> None:
    registry = new_registry()
    written = registry.create_entity(envelope(), "tool", tool())
    registry.create_entity(envelope(), "tool", tool(name="lookup"))
    before = head(registry)

    with pytest.raises(ConflictError):
        registry.update_entity(envelope(), "tool", written.id, {"name": "lookup", "description": "x"})

    assert head(registry) == before
    assert registry.repository.get(UUID(written.id)).name == "search"


def test_deleting_a_tool_frees_its_name_and_later_commands_on_it_are_gone() -> None:
    registry = new_registry()
    written = registry.create_entity(envelope(), "tool", tool())

    deleted = registry.change_entity(envelope(), "tool", written.id, "delete")

    assert deleted.version == 2
    assert registry.create_entity(envelope(), "tool", tool()).version == 1
    with pytest.raises(GoneError):
        registry.update_entity(envelope(), "tool", written.id, {"description": "back?"})
    with pytest.raises(GoneError):
        registry.change_entity(envelope(), "tool", written.id, "enable")


def test_disabling_twice_writes_one_event() -> None:
    registry = new_registry()
    written = registry.create_entity(envelope(), "tool", tool())

    first = registry.change_entity(envelope(), "tool", written.id, "disable")
    second = registry.change_entity(envelope(), "tool", written.id, "disable", expected_version=2)

    assert (first.version, second.version) == (2, 2)
    assert second.position == first.position
    assert registry.repository.get(UUID(written.id)).enabled is False


@pytest.mark.parametrize("entity_id", ["not-a-uuid", "00000000-0000-0000-0000-000000000000"])
def test_commands_on_an_unknown_id_are_not_found(entity_id: str) -> None:
    registry = new_registry()

    with pytest.raises(NotFoundError):
        registry.update_entity(envelope(), "tool", entity_id, {"description": "x"})
    with pytest.raises(NotFoundError):
        registry.change_entity(envelope(), "tool", entity_id, "disable")


def test_a_tool_created_disabled_is_disabled_in_the_same_save() -> None:
    registry = new_registry()
    before = head(registry)

    written = registry.create_entity(envelope(), "tool", tool(), enabled=False)

    saved: Tool = registry.repository.get(UUID(written.id))
    assert (saved.enabled, written.version, written.position) == (False, 2, before + 3)
