"""Tool schemas over REST: one that could recurse without end, exhaust the stack or fetch a reference is a 422
problem (or a 400 past the body depth) and writes nothing; an accepted recursive one serves calls with deep
arguments over MCP."""

from __future__ import annotations

from typing import Any

import pytest

from ledgergate.domain.json_schema import MAX_SCHEMA_DEPTH
from tests.api.conftest import Api
from tests.api.test_mcp_protocol import modern, result, write
from tests.domain.test_tool_schema_limits import REFUSED, TREE, deep_value, nested_properties
from tests.support.echo import echo_service

INTEGRATION = {"method": "POST", "url": "https://api.example.com/t"}


def tool(name: str, input_schema: Any, **extra: Any) -> dict[str, Any]:
    return {"name": name, "input_schema": input_schema, "integration": INTEGRATION, **extra}


def head(api: Api) -> int:
    return int(api.http.app.state.runtime.registry.recorder.max_notification_id() or 0)


def assert_problem(response: Any, status: int, slug: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith(slug)


UNDER_THE_BODY_DEPTH = [case for case in REFUSED if "100 levels" not in case]


@pytest.mark.parametrize("case", UNDER_THE_BODY_DEPTH)
def test_a_schema_refused_by_the_rules_is_a_422_on_create_and_change_and_writes_nothing(api: Api, case: str) -> None:
    made = api.call("POST", "/v1/tenants/default/tools", json=tool("ok", {"type": "object"}))
    assert made.status_code == 201
    path = f"/v1/tenants/default/tools/{made.json()['id']}"
    before = head(api)
    schema = REFUSED[case]
    assert_problem(api.call("POST", "/v1/tenants/default/tools", json=tool("bad", schema)), 422, "validation-error")
    output = tool("bad", {"type": "object"}, output_schema=schema)
    assert_problem(api.call("POST", "/v1/tenants/default/tools", json=output), 422, "validation-error")
    assert_problem(api.call("PATCH", path, json={"input_schema": schema}), 422, "validation-error")
    assert_problem(api.call("PATCH", path, json={"output_schema": schema}), 422, "validation-error")
    assert head(api) == before


def test_100_levels_of_properties_under_4_kb_are_refused_by_the_body_depth(api: Api) -> None:
    body = tool("deep", nested_properties(100))
    assert len(str(body)) < 6000
    response = api.call("POST", "/v1/tenants/default/tools", json=body)
    assert_problem(response, 400, "invalid-request")
    assert "64" in response.json()["detail"]


def test_a_schema_past_its_own_depth_names_the_limit(api: Api) -> None:
    response = api.call("POST", "/v1/tenants/default/tools", json=tool("deep", nested_properties(30)))
    assert_problem(response, 422, "validation-error")
    assert str(MAX_SCHEMA_DEPTH) in response.json()["detail"]


def test_a_recursive_schema_is_accepted_and_calls_with_deep_arguments_are_answered(api: Api) -> None:
    with echo_service() as echo:
        integration = {"method": "POST", "url": echo + "/tree"}
        write(api, "POST", "/v1/tenants/default/tools", {**tool("tree", TREE), "integration": integration})
        deep = deep_value(59, [], "children")  # inside the envelope, at the body's depth limit
        called = result(modern(api, "tools/call", {"name": "tree", "arguments": deep}))
        assert called.get("isError") is not True, called
        wrong = deep_value(59, [{"name": 5}], "children")  # a bad leaf far down is reported, not a crash
        refused = result(modern(api, "tools/call", {"name": "tree", "arguments": wrong}))
        assert refused["isError"] is True
        assert "children" in refused["content"][0]["text"]
