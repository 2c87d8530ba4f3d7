"""The hot catalogs hold what is served: a deleted entity keeps only its envelope, and a revert restores it whole."""

from __future__ import annotations

from ledgergate.infrastructure.eventstore import log_reader
from ledgergate.projections.hot_catalog import HotCatalogs
from tests.application.fakes import envelope, new_registry, tool

SCHEMA = {"type": "object", "properties": {f"p{n}": {"type": "string", "description": "x" * 200} for n in range(20)}}


def test_a_deleted_tool_keeps_no_document_in_memory_and_a_revert_brings_it_back_whole() -> None:
    registry = new_registry()
    written = registry.create_entity(envelope(), "tool", tool(name="big", input_schema=SCHEMA))
    registry.change_entity(envelope(), "tool", written.id, "delete")
    hot = HotCatalogs(log_reader(registry))
    hot.advance()

    deleted = hot.row(written.id)
    assert deleted is not None and deleted["deleted"] is True
    assert deleted["doc"] == {}
    assert hot.rows_of_kind("tool") == []
    snapshot = hot.get("acme")
    assert snapshot is not None and "big" not in snapshot.tools

    registry.revert_entity(envelope(), "tool", written.id, 1)
    hot.advance()

    snapshot = hot.get("acme")
    assert snapshot is not None and "big" in snapshot.tools
    assert snapshot.tools["big"]["doc"]["input_schema"] == SCHEMA
    assert snapshot.tools["big"]["doc"]["name"] == "big"


def test_memory_held_for_deleted_tools_stays_small_under_churn() -> None:
    registry = new_registry()
    hot = HotCatalogs(log_reader(registry))
    for n in range(50):
        written = registry.create_entity(envelope(), "tool", tool(name=f"t{n}", input_schema=SCHEMA))
        registry.change_entity(envelope(), "tool", written.id, "delete")
    hot.advance()
    tools = [row for row in hot._rows.values() if row["kind"] == "tool"]
    assert len(tools) == 50 and all(row["doc"] == {} for row in tools)
