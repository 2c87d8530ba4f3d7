"""Given a catalog entity, when a command runs, then exactly the right events are recorded."""

from __future__ import annotations

import pytest

from ledgergate.domain.catalog import CatalogEntity
from ledgergate.domain.envelope import recording
from ledgergate.domain.errors import EntityDeletedError, InvalidValueError
from tests.domain.builders import ENVELOPE, event_names, new_prompt, new_tool, replay


def test_updating_records_only_the_fields_whose_value_changes() -> None:
    tool = new_tool(tags=["web"])

    with recording(ENVELOPE):
        changes = tool.update({"name": "search", "description": "Find pages", "tags": ["web"]})

    assert changes == {"description": "Find pages"}
    updated = tool.pending_events[-1]
    assert isinstance(updated, CatalogEntity.Updated)
    assert updated.changes == {"description": "Find pages"}
    assert (tool.description, tool.version) == ("Find pages", 2)


def test_an_update_that_changes_nothing_records_nothing() -> None:
    tool = new_tool(tags=["b", "a"])

    with recording(ENVELOPE):
        changes = tool.update({"description": "Search the web", "tags": ["a", "b", "a"]})

    assert changes == {}
    assert event_names(tool.pending_events) == ["Registered"]
    assert tool.version == 1


def test_an_update_naming_an_unknown_field_is_refused() -> None:
    tool = new_tool()

    with recording(ENVELOPE), pytest.raises(InvalidValueError) as raised:
        tool.update({"colour": "blue"})

    assert raised.value.field == "colour"
    assert tool.version == 1


def test_disabling_a_tool_records_disabled_and_a_second_disable_records_nothing() -> None:
    tool = new_tool()

    with recording(ENVELOPE):
        first, second = tool.disable(), tool.disable()

    assert (first, second) == (True, False)
    assert event_names(tool.pending_events) == ["Registered", "Disabled"]
    assert tool.enabled is False


def test_enabling_an_enabled_tool_records_nothing_and_enabling_a_disabled_one_records_enabled() -> None:
    tool = new_tool()

    with recording(ENVELOPE):
        assert tool.enable() is False
        tool.disable()
        assert tool.enable() is True

    assert event_names(tool.pending_events) == ["Registered", "Disabled", "Enabled"]
    assert tool.enabled is True


def test_a_deleted_tool_refuses_update_enable_disable_and_a_second_delete() -> None:
    tool = new_tool()
    with recording(ENVELOPE):
        tool.delete()

    for command in (lambda: tool.update({"description": "x"}), tool.enable, tool.disable, tool.delete):
        with recording(ENVELOPE), pytest.raises(EntityDeletedError):
            command()

    assert event_names(tool.pending_events) == ["Registered", "Deleted"]
    assert tool.deleted is True


def test_reverting_restores_the_fields_and_enabled_flag_of_an_earlier_version_and_undeletes() -> None:
    tool = new_tool()
    with recording(ENVELOPE):
        tool.disable()
        tool.update({"name": "lookup", "description": "Look things up"})
        tool.delete()
    at_version_2 = replay(tool.pending_events[:2])

    with recording(ENVELOPE):
        tool.revert(2, at_version_2.state())

    reverted = tool.pending_events[-1]
    assert isinstance(reverted, CatalogEntity.Reverted)
    assert reverted.to_version == 2
    assert (tool.name, tool.description) == ("search", "Search the web")
    assert (tool.enabled, tool.deleted, tool.version) == (False, False, 5)
    assert tool.state() == at_version_2.state()


def test_replaying_the_recorded_events_rebuilds_the_same_state() -> None:
    prompt = new_prompt()
    with recording(ENVELOPE):
        prompt.update({"description": "Greets", "tags": ["demo"]})
        prompt.disable()
        prompt.revert(1, replay(prompt.pending_events[:1]).state())

    rebuilt = replay(prompt.pending_events)

    assert rebuilt.state() == prompt.state()
    assert (rebuilt.version, rebuilt.enabled, rebuilt.deleted) == (4, True, False)


@pytest.mark.parametrize("version", [0, 3])
def test_reverting_to_a_version_that_does_not_exist_is_refused(version: int) -> None:
    tool = new_tool()
    with recording(ENVELOPE):
        tool.disable()

    with recording(ENVELOPE), pytest.raises(InvalidValueError) as raised:
        tool.revert(version, tool.state())

    assert raised.value.field == "version"
    assert tool.version == 2
