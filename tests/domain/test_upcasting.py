"""Stored events are never rewritten; old shapes are upcast on read.

Tool.Registered version 1 had no title or output_schema; every event recorded before the envelope named
the credential (``actor_token_id``, ``actor_tenant``) loads with neither (a system actor's shape)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from eventsourcing.application import Application
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from ledgergate.domain.api_token import ApiToken
from ledgergate.domain.envelope import Envelope, recording
from ledgergate.domain.tool import Tool
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
    assert (event.actor_token_id, event.actor_tenant) == (None, None)


def test_an_upcast_version_1_event_replays_into_a_complete_tool() -> None:
    app = store()

    tool = replay([app.mapper.to_domain_event(v1_stored_event(app))])

    assert isinstance(tool, Tool)
    assert (tool.name, tool.title, tool.output_schema) == ("legacy", None, None)
    assert set(tool.state()) == {*Tool.RULES, "enabled"}
    assert tool.tenant_id == "acme"


def test_a_freshly_recorded_registered_event_is_stored_at_class_version_3() -> None:
    app = store()
    registered = new_tool(title="Search").pending_events[0]

    stored = app.mapper.to_stored_event(registered)
    state = app.mapper.transcoder.decode(stored.state)

    assert stored.topic == get_topic(Tool.Registered)
    assert state["class_version"] == 3
    assert (state["actor_token_id"], state["actor_tenant"]) == (None, None)
    assert state["fields"]["title"] == "Search"
    assert "output_schema" in state["fields"]
    round_trip = app.mapper.to_domain_event(stored)
    assert round_trip.fields == registered.fields


def test_a_version_2_registered_event_without_credential_fields_loads_with_none() -> None:
    app = store()
    stored = v1_stored_event(app)
    state = app.mapper.transcoder.decode(stored.state)
    state["class_version"] = 2
    state["fields"] = {**state["fields"], "title": "T", "output_schema": None}
    stored = StoredEvent(stored.originator_id, 1, stored.topic, app.mapper.transcoder.encode(state))

    event = app.mapper.to_domain_event(stored)

    assert event.fields["title"] == "T"
    assert (event.actor, event.actor_token_id, event.actor_tenant) == ("alice", None, None)


def test_any_event_recorded_before_credentials_were_named_loads_and_replays() -> None:
    app = store()
    tool = new_tool()
    with recording(Envelope("acme", "acme:bob", "c", "r", actor_token_id="t1", actor_tenant="acme")):
        tool.disable()
    old = []
    for pending in tool.pending_events:
        state = app.mapper.transcoder.decode(app.mapper.to_stored_event(pending).state)
        for key in ("class_version", "actor_token_id", "actor_tenant"):
            state.pop(key, None)
        state.get("fields", {}).pop("title", None)
        old.append(
            StoredEvent(
                pending.originator_id,
                pending.originator_version,
                get_topic(type(pending)),
                app.mapper.transcoder.encode(state),
            )
        )

    events = [app.mapper.to_domain_event(stored) for stored in old]

    assert [(e.actor, e.actor_token_id, e.actor_tenant) for e in events] == [
        ("alice", None, None),
        ("acme:bob", None, None),
    ]
    replayed = replay(events)
    assert (replayed.enabled, replayed.version) == (False, 2)


def test_a_token_issued_before_credentials_were_named_loads_with_none() -> None:
    app = store()
    with recording(Envelope("acme", "root", "c", "r")):
        token = ApiToken.issue("ci", "bot", "viewer", None, None)
    state = app.mapper.transcoder.decode(app.mapper.to_stored_event(token.pending_events[0]).state)
    for key in ("class_version", "actor_token_id", "actor_tenant"):
        state.pop(key, None)
    stored = StoredEvent(token.id, 1, get_topic(ApiToken.Issued), app.mapper.transcoder.encode(state))

    event = app.mapper.to_domain_event(stored)

    assert (event.subject, event.actor_token_id, event.actor_tenant) == ("bot", None, None)
