"""Tool.Registered is at class version 2; version 1 events (no title, no output_schema) are upcast on read."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from eventsourcing.application import Application
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from domain.tool import Tool
from tests.domain.builders import integration, new_tool, replay


def store() -> Application[Any]:
    return Application(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def v1_fields() -> dict[str, Any]:
    return {
        "name": "legacy",
        "description": "Registered before titles existed",
        "input_schema": {"type": "object"},
        "annotations": {},
        "tags": ["old"],
        "integration": {**integration(), "query": {}, "body": None, "timeout_s": 30.0, "auth": {"type": "none"}},
        "source": None,
        "icons": None,
        "meta": None,
        "overrides": [],
    }


def v1_stored_event(app: Application[Any]) -> StoredEvent:
    """A Tool.Registered event as version 1 wrote it: no class_version, no title or output_schema."""
    state = {
        "timestamp": datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
        "originator_topic": get_topic(Tool),
        "tenant_id": "acme",
        "actor": "alice",
        "correlation_id": "corr-1",
        "causation_id": "req-1",
        "fields": v1_fields(),
    }
    return StoredEvent(
        originator_id=uuid4(),
        originator_version=1,
        topic=get_topic(Tool.Registered),
        state=app.mapper.transcoder.encode(state),
    )


def test_a_version_1_registered_event_is_upcast_with_no_title_and_no_output_schema() -> None:
    app = store()
    stored = v1_stored_event(app)

    event = app.mapper.to_domain_event(stored)

    assert isinstance(event, Tool.Registered)
    assert event.fields == {**v1_fields(), "title": None, "output_schema": None}
    assert "class_version" not in vars(event)
    assert (event.originator_id, event.originator_version) == (stored.originator_id, 1)
    assert (event.tenant_id, event.actor) == ("acme", "alice")


def test_an_upcast_version_1_event_replays_into_a_complete_tool() -> None:
    app = store()

    tool = replay([app.mapper.to_domain_event(v1_stored_event(app))])

    assert isinstance(tool, Tool)
    assert (tool.name, tool.title, tool.output_schema) == ("legacy", None, None)
    assert set(tool.state()) == {*Tool.RULES, "enabled"}
    assert tool.tenant_id == "acme"


def test_a_freshly_recorded_registered_event_is_stored_at_class_version_2() -> None:
    app = store()
    registered = new_tool(title="Search").pending_events[0]

    stored = app.mapper.to_stored_event(registered)
    state = app.mapper.transcoder.decode(stored.state)

    assert stored.topic == get_topic(Tool.Registered)
    assert state["class_version"] == 2
    assert state["fields"]["title"] == "Search"
    assert "output_schema" in state["fields"]
    round_trip = app.mapper.to_domain_event(stored)
    assert round_trip.fields == registered.fields
