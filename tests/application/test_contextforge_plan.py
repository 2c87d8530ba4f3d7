"""Planning a ContextForge export: which command bodies it maps to, what it skips and why, which secrets it reports."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from ledgergate.api.schemas import CREATE_BODIES, UpstreamCreate
from ledgergate.application.contextforge_plan import (
    ContextForgePlan,
    ExportFormatError,
    PlannedCommand,
    plan_contextforge_import,
)

FIXTURE = Path(__file__).parent.parent / "fixtures" / "contextforge_export.json"
CIPHERTEXTS = ("Z0FBQUFBQm9PaVRxX0xm", "Z0FBQUFBQm9PaVRxWVpK")


def export() -> dict[str, Any]:
    return json.loads(FIXTURE.read_text())


def with_entities(**entities: list[dict[str, Any]]) -> dict[str, Any]:
    data = export()
    data["entities"] = entities
    return data


def command(plan: ContextForgePlan, kind: str, name: str) -> PlannedCommand:
    return next(c for c in plan.commands if (c.kind, c.name) == (kind, name))


def skipped(plan: ContextForgePlan) -> dict[str, str]:
    return {s.name: s.reason for s in plan.skipped}


def test_every_planned_body_is_a_valid_create_body_of_the_registry_api() -> None:
    plan = plan_contextforge_import(export())

    for planned in plan.commands:
        schema = UpstreamCreate if planned.kind == "upstream" else CREATE_BODIES[planned.kind]
        msgspec.convert(planned.body, schema)  # forbid_unknown_fields: raises on any field the API doesn't take
    assert [(c.kind, c.name) for c in plan.commands] == [
        ("upstream", "time-server"),
        ("upstream", "docs-mcp"),
        ("tool", "get_weather"),
        ("tool", "create_ticket"),
        ("tool", "convert_currency"),
        ("resource", "docs://readme"),
        ("prompt", "summarize"),
        ("server", "ai-tools-server"),
    ]


def test_a_rest_tool_becomes_a_tool_with_its_method_url_headers_schema_annotations_and_tags() -> None:
    tool = command(plan_contextforge_import(export()), "tool", "get_weather")

    assert tool.enabled and tool.notes == ()
    assert tool.body["integration"] == {
        "method": "GET",
        "url": "https://api.weather.example.com/v1/current",
        "headers": {"Accept": "application/json", "X-Client-Id": "contextforge-demo"},
        "query": {},
        "body": None,
    }
    assert tool.body["input_schema"]["required"] == ["city"]
    assert tool.body["annotations"] == {"title": "Weather", "readOnlyHint": True, "openWorldHint": True}
    assert tool.body["tags"] == ["api", "weather"]  # the {"id", "label"} tag object is flattened
    assert (tool.body["title"], tool.body["description"]) == ("Get Weather", "Current weather for a city")


def test_a_tool_whose_auth_is_encrypted_is_planned_disabled_without_auth_and_the_secret_is_reported() -> None:
    plan = plan_contextforge_import(export())
    tool = command(plan, "tool", "create_ticket")

    assert not tool.enabled
    assert "auth" not in tool.body["integration"]
    assert tool.body["integration"]["timeout_s"] == 20.0
    assert tool.body["annotations"] == {"destructiveHint": False}
    assert any("jsonpath_filter" in note for note in tool.notes)
    assert any("'x-team' dropped" in note for note in tool.notes)
    [secret] = [s for s in plan.secrets if s.name == "create_ticket"]
    assert (secret.source, secret.field) == ("tools[1]", "auth_value")
    assert "basic credentials are encrypted" in secret.detail


def test_no_ciphertext_from_the_export_reaches_a_command_body() -> None:
    plan = plan_contextforge_import(export())

    text = json.dumps([c.body for c in plan.commands])
    assert not any(cipher in text for cipher in CIPHERTEXTS)


def test_a_gateway_becomes_a_disabled_upstream_with_a_valid_name_and_transport_and_no_auth() -> None:
    plan = plan_contextforge_import(export())
    upstream = command(plan, "upstream", "time-server")
    docs = command(plan, "upstream", "docs-mcp")

    assert upstream.body == {
        "name": "time-server",
        "transport": "sse",
        "url": "http://time-server.internal:8000/sse",
        "description": "Time zone tools",
        "tags": ["time"],
    }
    assert docs.body["transport"] == "streamable_http"
    assert not upstream.enabled and not docs.enabled
    assert any("renamed from 'Time Server'" in note for note in upstream.notes)
    assert any("passthrough_headers" in note for note in upstream.notes)
    assert [(s.source, s.name, s.field) for s in plan.secrets if s.source.startswith("gateways")] == [
        ("gateways[0]", "time-server", "auth_value")
    ]


def test_an_mcp_tool_of_a_gateway_is_skipped_because_discovering_its_upstream_brings_it() -> None:
    plan = plan_contextforge_import(export())

    assert "discovered from upstream 'Time Server'" in skipped(plan)["get_current_time"]
    assert all(c.name != "get_current_time" for c in plan.commands)


def test_a_server_refers_to_tools_by_name_or_slug_and_a_federated_member_is_noted_not_dropped_silently() -> None:
    server = command(plan_contextforge_import(export()), "server", "ai-tools-server")

    assert server.members == {"tool_ids": ("get_weather", "create_ticket"), "resource_ids": (), "prompt_ids": ()}
    assert server.body["tool_ids"] == []  # the import fills in the ids of the created tools
    assert server.notes == (
        "tool 'time-server-get-current-time' comes from upstream 'time-server': add it once that upstream is enabled",
    )


def test_a_server_holding_a_member_that_is_not_imported_is_skipped_naming_the_member() -> None:
    data = export()
    data["entities"]["servers"][0]["tool_ids"] = ["get-weather", "legacy_upload", "no_such_tool"]

    plan = plan_contextforge_import(data)

    reason = skipped(plan)["ai-tools-server"]
    assert "tool 'legacy_upload' was skipped (integration.url" in reason
    assert "tool 'no_such_tool' is not in the export" in reason
    assert all(c.kind != "server" for c in plan.commands)


def test_a_server_referring_to_a_federated_tool_by_its_own_name_notes_it_instead_of_skipping_the_server() -> None:
    data = export()
    data["entities"]["servers"][0]["tool_ids"] = ["get_weather", "get_current_time"]

    server = command(plan_contextforge_import(data), "server", "ai-tools-server")

    assert server.members["tool_ids"] == ("get_weather",)
    assert server.notes == (
        "tool 'get_current_time' comes from upstream 'time-server': add it once that upstream is enabled",
    )


def test_two_entries_that_end_up_with_one_name_import_the_first_and_skip_the_second() -> None:
    tools = export()["entities"]["tools"]
    twin = {**tools[0], "name": "get weather"}  # made valid, it becomes get_weather too

    plan = plan_contextforge_import(with_entities(tools=[tools[0], twin]))

    assert [c.name for c in plan.commands] == ["get_weather"]
    assert [(s.source, s.reason) for s in plan.skipped] == [
        ("tools[1]", "an earlier entry of the export is also named 'get_weather' here")
    ]


def test_a_prompt_keeps_its_jinja_template_and_gets_its_arguments_from_the_input_schema() -> None:
    prompt = command(plan_contextforge_import(export()), "prompt", "summarize")

    assert prompt.body["template"].startswith("Summarize the following text in a {{ style | default('neutral') }}")
    assert prompt.body["arguments"] == [
        {"name": "text", "description": "The text to summarize", "required": True},
        {"name": "style", "description": "Tone of the summary", "required": False},
    ]


def test_prompt_arguments_given_as_a_list_are_used_and_one_that_is_not_an_identifier_skips_the_prompt() -> None:
    prompt = {"name": "p", "template": "{{ a }}", "arguments": [{"name": "a", "required": True}]}
    bad = {"name": "q", "template": "{{ x }}", "input_schema": {"type": "object", "properties": {"not valid": {}}}}

    plan = plan_contextforge_import(with_entities(prompts=[prompt, bad]))

    assert command(plan, "prompt", "p").body["arguments"] == [{"name": "a", "description": None, "required": True}]
    assert skipped(plan) == {"q": "argument name 'not valid' is not an identifier"}


def test_invalid_entries_roots_and_resources_without_content_are_skipped_each_with_its_reason() -> None:
    reasons = skipped(plan_contextforge_import(export()))

    assert reasons["legacy_upload"] == "integration.url: must be an http:// or https:// URL template"
    assert reasons["broken_template"].startswith("template: is not a valid Jinja template")
    assert reasons["relative"].startswith("uri: must be an absolute URI")
    assert reasons["(unnamed)"] == "it has no name"
    assert (
        reasons["app_settings"] == "the export carries no content for it (ContextForge exports resource metadata only)"
    )
    assert reasons["file:///srv/projects"].startswith("there is no roots entity here")


def test_an_inactive_item_is_planned_disabled_and_a_name_clients_cannot_use_is_renamed_with_a_note() -> None:
    tool = command(plan_contextforge_import(export()), "tool", "convert_currency")

    assert not tool.enabled
    assert tool.notes == (
        "renamed from 'convert currency': names allow only A-Z, a-z, 0-9, '_', '.', '-'",
        "imported disabled: it was inactive in ContextForge",
    )


def test_gateways_with_a_transport_or_url_that_has_no_equivalent_are_skipped() -> None:
    gateways = [
        {"name": "ws", "url": "ws://example.com/ws", "transport": "WEBSOCKET"},
        {"name": "no-url", "url": "file:///tmp/x", "transport": "SSE"},
    ]

    reasons = skipped(plan_contextforge_import(with_entities(gateways=gateways)))

    assert reasons["ws"].startswith("transport WEBSOCKET has no equivalent here")
    assert reasons["no-url"] == "url 'file:///tmp/x' is not an http:// or https:// URL"


def test_an_unknown_entity_type_is_reported_as_skipped_rather_than_guessed_at() -> None:
    data = export()
    data["entities"]["a2a_agents"] = [{"name": "agent"}]

    plan = plan_contextforge_import(data)

    assert ("entities.a2a_agents", "1 item(s)", "unknown entity type") in [
        (s.source, s.name, s.reason) for s in plan.skipped
    ]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: [], "the top level must be a JSON object"),
        (lambda d: {k: v for k, v in d.items() if k != "entities"}, "missing required field 'entities'"),
        (lambda d: {k: v for k, v in d.items() if k != "version"}, "missing required field 'version'"),
        (lambda d: {**d, "entities": []}, "'entities' must be an object"),
        (lambda d: {**d, "entities": {"tools": {"name": "x"}}}, "entities.tools must be a list"),
        (lambda d: {**d, "entities": {"prompts": ["x"]}}, r"entities.prompts\[0\] must be an object"),
    ],
)
def test_what_is_not_a_contextforge_export_is_refused_with_a_message_naming_the_problem(
    mutate: Any, message: str
) -> None:
    data = export()
    before = copy.deepcopy(data)

    with pytest.raises(ExportFormatError, match=message):
        plan_contextforge_import(mutate(data))
    assert data == before
