"""The catalog read model as a pure fold: given events, then rows."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ledgergate.domain.api_token import ApiToken
from ledgergate.domain.envelope import Envelope, recording
from ledgergate.domain.name_claim import NameClaim
from ledgergate.domain.virtual_server import VirtualServer
from ledgergate.projections.catalog import Row, evolve, member_rows, tag_rows
from tests.domain.builders import ENVELOPE, new_resource, new_tool

BOB = Envelope("acme", "bob", "corr-2", "req-2")


def fold(events: Iterable[Any], row: Row | None = None, first_position: int = 1) -> Row | None:
    for position, event in enumerate(events, start=first_position):
        row = evolve(row, event, position)
    return row


def test_a_registered_tool_becomes_a_row_with_its_fields_and_metadata() -> None:
    tool = new_tool(tags=["web"])
    [registered] = tool.pending_events

    row = evolve(None, registered, 7)

    assert row is not None
    assert (row["id"], row["tenant_id"], row["kind"], row["name"]) == (str(tool.id), "acme", "tool", "search")
    assert (row["enabled"], row["deleted"], row["version"], row["position"]) == (True, False, 1, 7)
    assert row["created_at"] == row["updated_at"] == registered.timestamp.isoformat()
    assert row["updated_by"] == "alice"
    assert row["doc"] == registered.fields


def test_updates_disable_and_rename_change_the_row_and_who_changed_it_last() -> None:
    tool = new_tool()
    with recording(BOB):
        tool.update({"name": "lookup", "tags": ["x"]})
        tool.disable()

    row = fold(tool.pending_events)

    assert row is not None
    assert (row["name"], row["doc"]["name"], row["doc"]["tags"]) == ("lookup", "lookup", ["x"])
    assert (row["enabled"], row["version"], row["position"], row["updated_by"]) == (False, 3, 3, "bob")
    assert row["created_at"] == tool.pending_events[0].timestamp.isoformat()
    assert row["doc"] == {name: getattr(tool, name) for name in tool.RULES}


def test_a_deleted_row_is_kept_flagged_and_a_revert_brings_it_back_with_its_earlier_state() -> None:
    tool = new_tool()
    with recording(ENVELOPE):
        state_v1 = tool.state()
        tool.update({"description": "changed"})
        tool.disable()
        tool.delete()
    deleted = fold(tool.pending_events)
    with recording(ENVELOPE):
        tool.revert(1, state_v1)

    reverted = evolve(deleted, tool.pending_events[-1], 99)

    assert deleted is not None and deleted["deleted"] is True
    assert tag_rows(deleted) == []
    assert reverted is not None
    assert (reverted["deleted"], reverted["enabled"], reverted["version"]) == (False, True, 5)
    assert reverted["doc"]["description"] == "Search the web"
    assert "enabled" not in reverted["doc"]
    assert reverted["created_at"] == deleted["created_at"]


def test_evolve_never_changes_the_row_it_is_given() -> None:
    tool = new_tool(tags=["a"])
    with recording(ENVELOPE):
        tool.update({"tags": ["b"]})
    row = evolve(None, tool.pending_events[0], 1)
    assert row is not None
    before = {**row, "doc": dict(row["doc"])}

    evolve(row, tool.pending_events[1], 2)

    assert row == before


def test_a_resource_row_is_named_by_its_uri() -> None:
    resource = new_resource()
    with recording(ENVELOPE):
        resource.update({"uri": "file:///moved.md"})

    row = fold(resource.pending_events)

    assert row is not None
    assert (row["kind"], row["name"]) == ("resource", "file:///moved.md")


def test_name_claims_are_not_part_of_the_catalog() -> None:
    with recording(ENVELOPE):
        claim = NameClaim(tenant_id="acme", kind="tool", name="search", owner_id="t1")
        claim.release("t1")

    assert fold(claim.pending_events) is None


def test_a_token_row_records_its_scope_and_a_revoke_disables_it() -> None:
    with recording(ENVELOPE):
        token = ApiToken.issue("ci", "bot", "editor", ["s1"], None)
    issued = fold(token.pending_events)
    with recording(ENVELOPE):
        token.revoke()

    revoked = evolve(issued, token.pending_events[-1], 2)

    assert issued is not None and revoked is not None
    assert (issued["kind"], issued["name"], issued["enabled"]) == ("token", "ci", True)
    assert issued["doc"] == {
        "name": "ci",
        "subject": "bot",
        "role": "editor",
        "server_ids": ["s1"],
        "expires_at": None,
        "revoked": False,
    }
    assert (revoked["enabled"], revoked["doc"]["revoked"], revoked["version"]) == (False, True, 2)


def test_a_server_row_lists_its_members_and_tags_until_it_is_deleted() -> None:
    fields = {"name": "research", "tool_ids": ["t1", "t2"], "prompt_ids": ["p1"], "tags": ["team"]}
    with recording(ENVELOPE):
        server = VirtualServer(fields=VirtualServer.normalise({**VirtualServer.DEFAULTS, **fields}))
    row = fold(server.pending_events)
    assert row is not None

    assert member_rows(row) == [(row["id"], "tool", "t1"), (row["id"], "tool", "t2"), (row["id"], "prompt", "p1")]
    assert tag_rows(row) == [(row["id"], "team")]
    with recording(ENVELOPE):
        server.delete()
    deleted = evolve(row, server.pending_events[-1], 2)
    assert deleted is not None
    assert (member_rows(deleted), tag_rows(deleted)) == ([], [])
    tool_row = fold(new_tool().pending_events)
    assert tool_row is not None and member_rows(tool_row) == []
