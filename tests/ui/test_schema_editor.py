"""The JSON Schema editor's server check (in process, SQLite and PostgreSQL), and an upstream's health
history and refresh report."""

from __future__ import annotations

import json
from types import SimpleNamespace

from ledgergate.api.ui.render import render
from ledgergate.api.ui.schema_editor import schema_problem_of
from ledgergate.api.ui.upstream_health import health_history
from tests.ui.conftest import TOOL, Ui

CHECK = "/admin/schema/check"


def test_the_editor_refuses_what_the_tool_use_case_refuses_with_the_same_words(ui: Ui) -> None:
    csrf = ui.sign_in(ui.admin)
    bad = {"type": "object", "properties": {"n": {"type": "integr"}}}
    answer = ui.client.post(CHECK, data={"csrf": csrf, "schema_field": "input_schema", "input_schema": json.dumps(bad)})
    assert answer.status_code == 200 and 'data-valid="false"' in answer.text
    api = ui.rest("POST", "/v1/tenants/default/tools", json={**TOOL, "input_schema": bad})
    assert api.status_code == 422
    assert api.json()["detail"].replace("'", "&#39;") in answer.text  # one rule set, one message
    good = ui.client.post(
        CHECK, data={"csrf": csrf, "schema_field": "output_schema", "output_schema": '{"type": "object"}'}
    )
    assert 'data-valid="true"' in good.text
    assert ui.rest("GET", "/v1/tenants/default/tools").json()["items"] == []


def test_the_editor_needs_an_editor_and_the_csrf_token(ui: Ui) -> None:
    ui.sign_in(ui.admin)
    fields = {"schema_field": "input_schema", "input_schema": "{}"}
    assert ui.client.post(CHECK, data={"csrf": "forged", **fields}).status_code == 403
    csrf = ui.sign_in(ui.token("viewer"))
    assert ui.client.post(CHECK, data={"csrf": csrf, **fields}).status_code == 403
    csrf = ui.sign_in(ui.token("editor"))
    assert ui.client.post(CHECK, data={"csrf": csrf, **fields}).status_code == 200
    wrong = ui.client.post(CHECK, data={"csrf": csrf, "schema_field": "integration"})
    assert wrong.status_code == 422


def test_the_tool_form_carries_the_editor_without_inline_script(ui: Ui) -> None:
    ui.sign_in(ui.admin)
    page = ui.client.get("/admin/t/default/tools/new").text
    assert '<script src="/admin/static/schema-editor.js" defer></script>' in page
    assert 'hx-post="/admin/schema/check"' in page and 'id="schema-status-input_schema"' in page
    assert "<script>" not in page and " on" + "input=" not in page
    assert ui.client.get("/admin/static/schema-editor.js").status_code == 200


def test_schema_problems_name_their_field() -> None:
    assert schema_problem_of("output_schema", "") is None
    assert schema_problem_of("input_schema", "") == "input_schema: a JSON Schema is required"
    assert (schema_problem_of("input_schema", "{") or "").startswith("input_schema: not valid JSON")
    assert schema_problem_of("input_schema", '{"type": "string"}') == (
        'input_schema: must describe an object ("type": "object")'
    )
    assert schema_problem_of("input_schema", '{"type": "object"}') is None


def test_the_health_history_lists_transitions_newest_first_with_how_long_each_lasted() -> None:
    events = [
        {"type": "Upstream.Registered", "occurred_at": "2026-01-01T00:00:00+00:00", "position": 1},
        {"type": "Upstream.HealthChanged", "state": "healthy", "detail": None, "position": 2,
         "occurred_at": "2026-01-01T00:00:05+00:00"},
        {"type": "Upstream.HealthChanged", "state": "unreachable", "detail": "refused", "position": 3,
         "occurred_at": "2026-01-01T01:02:08+00:00"},
    ]  # fmt: skip
    history = health_history(events)
    assert [(h["state"], h["lasted"], h["detail"]) for h in history] == [
        ("unreachable", "until now", "refused"),
        ("healthy", "1h 2m 3s", None),
    ]


def test_a_refresh_report_names_what_changed_and_links_to_its_history() -> None:
    user = SimpleNamespace(csrf="c", role="admin", may=lambda role: True, principal=SimpleNamespace(subject="a"))
    report = {
        "added": [{"kind": "tool", "name": "fresh", "id": "t1"}],
        "changed": [{"kind": "tool", "name": "echo", "id": "t2", "fields": ["description", "input_schema"]}],
        "removed": [{"kind": "prompt", "name": "old", "id": "p1"}],
        "skipped": [{"kind": "tool", "name": "bad name", "reason": "not an MCP name"}],
    }
    upstream = {"name": "up", "enabled": True}
    page = render(
        "upstream.html", user=user, tenant="default", item_id="u1", upstream=upstream, report=report,
        report_title="Refresh", health={"state": "healthy", "since": None, "detail": None}, health_history=[],
        settings={}, items={}, events=[],
    )  # fmt: skip
    assert '<a href="/admin/t/default/tools/t2">echo</a> (description, input_schema: see its history)' in page
    assert '<a href="/admin/t/default/tools/t1">fresh</a>' in page
    assert "old" in page and "/prompts/p1" not in page  # removed: nothing left to link to
    assert "bad name (not an MCP name)" in page
