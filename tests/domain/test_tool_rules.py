"""The rules a tool's fields must satisfy before any event is recorded."""

from __future__ import annotations

from typing import Any

import pytest

from ledgergate.domain.envelope import recording
from ledgergate.domain.errors import InvalidValueError
from ledgergate.domain.tool import Tool
from tests.domain.builders import ENVELOPE, integration, new_tool, sealed, tool_fields


def refused_field(**overrides: Any) -> str:
    with recording(ENVELOPE), pytest.raises(InvalidValueError) as raised:
        Tool(fields=Tool.normalise({**Tool.DEFAULTS, **tool_fields(**overrides)}))
    return raised.value.field


@pytest.mark.parametrize("name", ["", "has space", "slash/name", "ünïcode", "x" * 129, 42, None])
def test_a_tool_name_outside_the_mcp_alphabet_is_refused(name: Any) -> None:
    assert refused_field(name=name) == "name"


@pytest.mark.parametrize("name", ["a", "get_weather", "v1.search-web", "X" * 128])
def test_a_tool_name_of_the_mcp_alphabet_is_accepted(name: str) -> None:
    assert new_tool(name=name).name == name


@pytest.mark.parametrize(
    "schema",
    [
        "object",
        ["type", "object"],
        {"type": "objekt"},
        {"type": "object", "properties": {"q": {"type": 5}}},
        {"type": "object", "required": "q"},
        {"type": "array", "items": {"type": "string"}},
        {"properties": {"q": {"type": "string"}}},
    ],
)
def test_an_input_schema_that_is_not_a_json_schema_of_an_object_is_refused(schema: Any) -> None:
    assert refused_field(input_schema=schema) == "input_schema"


def test_an_output_schema_may_be_absent_but_must_describe_an_object_when_given() -> None:
    assert new_tool(output_schema=None).output_schema is None
    schema = {"type": "object", "properties": {"hits": {"type": "integer"}}}
    assert new_tool(output_schema=schema).output_schema == schema
    assert refused_field(output_schema={"type": "string"}) == "output_schema"
    assert refused_field(output_schema={"type": "object", "properties": []}) == "output_schema"


@pytest.mark.parametrize(
    "annotations",
    [[], {"dangerous": True}, {"readOnlyHint": "yes"}, {"title": 3}, {"openWorldHint": None}],
)
def test_annotations_outside_the_mcp_hints_are_refused(annotations: Any) -> None:
    assert refused_field(annotations=annotations) == "annotations"


def test_mcp_annotations_are_kept() -> None:
    hints = {"title": "Search", "readOnlyHint": True, "destructiveHint": False, "idempotentHint": True}
    assert new_tool(annotations=hints).annotations == hints


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"headers": {"X-Api-Key": "plaintext"}}, "integration.headers.X-Api-Key"),
        ({"auth": {"type": "bearer", "token": "plaintext"}}, "integration.auth.token"),
        ({"auth": {"type": "basic", "username": "u", "password": "pw"}}, "integration.auth.password"),
        ({"auth": {"type": "header", "header": "X-Key", "value": "v"}}, "integration.auth.value"),
    ],
)
def test_an_integration_with_a_plaintext_secret_is_refused(overrides: dict[str, Any], field: str) -> None:
    assert refused_field(integration=integration(**overrides)) == field


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"url": "ftp://files.example.com/x"}, "integration.url"),
        ({"url": "ledgergate.api.example.com/search"}, "integration.url"),
        ({"url": "https://api.example.com/{"}, "integration.url"),
        ({"url": "https://api.example.com/{0}"}, "integration.url"),
        ({"method": "TRACE"}, "integration.method"),
        ({"timeout_s": 0}, "integration.timeout_s"),
        ({"timeout_s": 300.5}, "integration.timeout_s"),
        ({"timeout_s": True}, "integration.timeout_s"),
        ({"timeout_s": "10"}, "integration.timeout_s"),
        ({"headers": {"Bad Header": sealed()}}, "integration.headers"),
        ({"auth": {"type": "oauth"}}, "integration.auth.type"),
        ({"auth": {"type": "bearer"}}, "integration.auth"),
        ({"body": "q"}, "integration.body"),
    ],
)
def test_a_malformed_integration_is_refused(overrides: dict[str, Any], field: str) -> None:
    assert refused_field(integration=integration(**overrides)) == field


def test_a_valid_integration_is_normalised_with_its_defaults() -> None:
    tool = new_tool(
        integration=integration(url="https://api.example.com/items/{item_id}", timeout_s=300, query={"q": "q"})
    )

    assert tool.integration == {
        "method": "GET",
        "url": "https://api.example.com/items/{item_id}",
        "headers": {"X-Api-Key": sealed()},
        "query": {"q": "q"},
        "body": None,
        "timeout_s": 300.0,
        "auth": {"type": "none"},
    }


def test_a_tool_needs_either_an_integration_or_an_upstream_source_but_not_both() -> None:
    assert refused_field(integration=None) == "integration"
    source = {"upstream_id": "u1", "original": "search"}
    assert refused_field(source=source) == "integration"


def test_removing_the_integration_of_a_tool_without_a_source_is_refused() -> None:
    tool = new_tool()

    with recording(ENVELOPE), pytest.raises(InvalidValueError) as raised:
        tool.update({"integration": None})

    assert raised.value.field == "integration"
    assert tool.integration is not None
    assert tool.version == 1


def test_a_tool_source_is_set_by_discovery_and_cannot_be_changed() -> None:
    tool = new_tool()

    with recording(ENVELOPE), pytest.raises(InvalidValueError) as raised:
        tool.update({"source": {"upstream_id": "u1", "original": "search"}})

    assert raised.value.field == "source"
    assert tool.version == 1
