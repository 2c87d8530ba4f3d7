"""Every event carries the envelope of the command that recorded it; no envelope, no event."""

from __future__ import annotations

import pytest

from ledgergate.domain.envelope import Envelope, qualified_actor, recording
from ledgergate.domain.errors import DomainError
from ledgergate.domain.tool import Tool
from tests.domain.builders import ENVELOPE, new_tool, tool_fields


def test_creating_a_tool_records_registered_carrying_the_envelope() -> None:
    tool = new_tool()

    [registered] = tool.pending_events
    assert isinstance(registered, Tool.Registered)
    assert (registered.tenant_id, registered.actor) == ("acme", "alice")
    assert (registered.correlation_id, registered.causation_id) == ("corr-1", "req-1")
    assert registered.fields["name"] == "search"
    assert tool.tenant_id == "acme"
    assert (tool.version, tool.enabled, tool.deleted) == (1, True, False)


def test_every_later_event_carries_the_envelope_of_its_own_command() -> None:
    tool = new_tool()
    later = Envelope(tenant_id="acme", actor="bob", correlation_id="corr-2", causation_id="req-2")

    with recording(later):
        tool.update({"description": "Search everything"})
        tool.disable()

    updated, disabled = tool.pending_events[1:]
    for event in (updated, disabled):
        assert (event.actor, event.correlation_id, event.causation_id) == ("bob", "corr-2", "req-2")
    assert tool.pending_events[0].actor == "alice"


def test_creating_an_aggregate_outside_recording_raises_domain_error() -> None:
    with pytest.raises(DomainError, match="inside recording"):
        Tool(fields=Tool.normalise({**Tool.DEFAULTS, **tool_fields()}))


def test_changing_an_aggregate_outside_recording_raises_and_changes_nothing() -> None:
    tool = new_tool()

    with pytest.raises(DomainError, match="inside recording"):
        tool.update({"description": "changed"})

    assert tool.description == "Search the web"
    assert tool.version == 1
    assert len(tool.pending_events) == 1


def test_a_nested_recording_block_restores_the_outer_envelope_when_it_ends() -> None:
    tool = new_tool()
    inner = Envelope(tenant_id="acme", actor="system", correlation_id="corr-9", causation_id="job-9")

    with recording(ENVELOPE):
        with recording(inner):
            tool.update({"description": "inner"})
        tool.update({"description": "outer"})

    assert [event.actor for event in tool.pending_events[1:]] == ["system", "alice"]
    with pytest.raises(DomainError):
        tool.disable()


def test_an_event_names_the_credential_that_recorded_it_beside_the_actor() -> None:
    tool = new_tool()
    by_token = Envelope("acme", "globex:admin", "corr-3", "req-3", actor_token_id="tok-7", actor_tenant="globex")

    with recording(by_token):
        tool.disable()

    registered, disabled = tool.pending_events
    assert (disabled.actor, disabled.actor_token_id, disabled.actor_tenant) == ("globex:admin", "tok-7", "globex")
    assert (registered.actor_token_id, registered.actor_tenant) == (None, None)  # a system actor: no token


def test_a_token_actor_is_qualified_by_its_tenant_so_no_other_tenant_can_claim_it() -> None:
    assert qualified_actor("acme", "admin") == "acme:admin"
    assert qualified_actor("acme", "admin") != qualified_actor("globex", "admin")
