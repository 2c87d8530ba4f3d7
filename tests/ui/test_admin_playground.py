"""The playground over HTTP (in process, SQLite and PostgreSQL): forms made from input schemas, calls
through the gateway's MCP handling as the signed-in token, and what real upstreams answer."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from ledgergate.api.ui.playground_calls import shown_result
from tests.support.echo import echo_service
from tests.support.processes import serving
from tests.ui.conftest import Ui

SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "description": "Where"},
        "days": {"type": "integer"},
        "scale": {"type": "number"},
        "metric": {"type": "boolean"},
        "unit": {"enum": ["c", "f"]},
        "tags": {"type": "array", "items": {"type": "string"}},
        "extra": {"type": "object"},
    },
    "required": ["city"],
}


def calls(ui: Ui, tool: str) -> float:
    """``tools/call`` of ``tool`` this process's MCP metrics counted (the playground's calls are MCP's)."""
    registry = ui.client.app.state.mcp.metrics.registry
    return sum(
        sample.value
        for family in registry.collect()
        for sample in family.samples
        if sample.name == "ledgergate_tool_calls_total" and sample.labels.get("tool") == tool
    )  # whatever its tenant, server, upstream and outcome labels


def typed_tool(ui: Ui, url: str) -> dict[str, Any]:
    body = {
        "name": "typed",
        "description": "Typed <b>arguments</b>",
        "input_schema": SCHEMA,
        "integration": {"method": "POST", "url": url + "/typed"},
    }
    answer = ui.rest("POST", "/v1/tenants/default/tools", json=body)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def texts(page: str) -> list[str]:
    return [html.unescape(t) for t in re.findall(r'<pre class="result-text">(.*?)</pre>', page, re.S)]


def test_a_form_made_from_the_input_schema_calls_the_tool_through_mcp(ui: Ui) -> None:
    with echo_service() as echo:
        tool = typed_tool(ui, echo)
        csrf = ui.sign_in(ui.token("viewer"))
        page = ui.client.get(f"/admin/playground?tool=typed&at={tool['position']}")
        assert page.status_code == 200
        form = page.text
        assert 'type="text" id="arg.city"' in form and 'type="number" id="arg.days"' in form and 'step="1"' in form
        assert 'id="arg.scale"' in form and 'step="any"' in form
        assert '<select id="arg.metric"' in form and '<option value="f"' in form
        assert '<textarea id="arg.tags"' in form and '<textarea id="arg.extra"' in form
        assert "Typed &lt;b&gt;arguments&lt;/b&gt;" in form  # escaped, never markup
        before = calls(ui, "typed")
        values = {
            "arg.city": "Oslo",
            "arg.days": "3",
            "arg.scale": "1.5",
            "arg.metric": "true",
            "arg.unit": "f",
            "arg.tags": '["a", "b"]',
            "arg.extra": '{"k": 1}',
        }
        answer = ui.client.post("/admin/playground/tools", data={"csrf": csrf, "name": "typed", **values})
        assert answer.status_code == 200, answer.text[-500:]
        echoed = json.loads(texts(answer.text)[0])
        assert echoed["body"] == {
            "city": "Oslo",
            "days": 3,
            "scale": 1.5,
            "metric": True,
            "unit": "f",
            "tags": ["a", "b"],
            "extra": {"k": 1},
        }
        assert calls(ui, "typed") == before + 1
        assert 'value="Oslo"' in answer.text  # the form keeps what was sent
        missing = ui.client.post("/admin/playground/tools", data={"csrf": csrf, "name": "typed", "arg.days": "2"})
        assert missing.status_code == 200 and 'id="result-is-error"' in missing.text  # MCP's own validation
        assert "city" in texts(missing.text)[0]


def test_values_that_do_not_parse_are_shown_by_their_field_and_nothing_is_called(ui: Ui) -> None:
    with echo_service() as echo:
        tool = typed_tool(ui, echo)
        csrf = ui.sign_in(ui.token("viewer"))
        ui.client.get(f"/admin/playground?tool=typed&at={tool['position']}")
        before = calls(ui, "typed")
        form = {"csrf": csrf, "name": "typed", "arg.city": "x", "arg.days": "three", "arg.tags": "[1,", "arg.unit": "k"}
        answer = ui.client.post("/admin/playground/tools", data=form)
        assert answer.status_code == 422
        assert 'id="error-days"' in answer.text and "a whole number" in answer.text
        assert 'id="error-tags"' in answer.text and "not valid JSON" in answer.text
        assert 'id="error-unit"' in answer.text and 'id="result"' not in answer.text
        assert calls(ui, "typed") == before


def test_the_playground_refuses_forged_requests_other_tenants_and_unknown_names(ui: Ui) -> None:
    csrf = ui.sign_in(ui.admin)
    form = {"csrf": csrf, "name": "nothing-here"}
    assert ui.client.post("/admin/playground/tools", data={**form, "csrf": "forged"}).status_code == 403
    assert (
        ui.client.post("/admin/playground/tools", data=form, headers={"Origin": "https://evil.example"}).status_code
        == 403
    )
    assert ui.client.post("/admin/playground/tools", data=form).status_code == 404
    assert ui.client.post("/admin/playground/completions", data=form).status_code == 404
    assert ui.client.get("/admin/playground?tool=nothing-here").status_code == 404
    assert ui.rest("POST", "/v1/tenants", json={"name": "other"}).status_code == 201
    # MCP serves a token only its own tenant: so does the playground, even for a platform admin
    other = ui.client.get("/admin/playground?tenant=other")
    assert other.status_code == 403 and "its own tenant" in other.text
    assert ui.client.post("/admin/playground/tools", data={**form, "tenant": "other"}).status_code == 403


@pytest.fixture
def upstreams(ui: Ui) -> Iterator[dict[str, Any]]:
    with serving("tests.support.upstream_server") as sdk, serving("tests.support.conformance_upstream") as conf:
        registered = {}
        for name, url in (("up", sdk), ("conf", conf)):
            answer = ui.rest(
                "POST", "/v1/tenants/default/upstreams", json={"name": name, "transport": "streamable_http", "url": url}
            )
            assert answer.status_code == 201, answer.text
            registered[name] = answer.json()
        yield registered


def test_upstream_results_show_text_structured_content_images_errors_prompts_and_resources(
    ui: Ui, upstreams: dict[str, Any]
) -> None:
    csrf = ui.sign_in(ui.token("editor"))
    at = max(u["position"] for u in upstreams.values())
    index = ui.client.get(f"/admin/playground?at={at}").text
    assert 'data-tool="up__add"' in index and 'data-prompt="up__review"' in index

    def call(kind: str, name: str, **args: str) -> str:
        answer = ui.client.post(f"/admin/playground/{kind}", data={"csrf": csrf, "name": name, **args})
        assert answer.status_code == 200, answer.text[-500:]
        return answer.text

    added = call("tools", "up__add", **{"arg.a": "2", "arg.b": "3"})
    assert texts(added) == ["5"] and json.loads(html.unescape(added.split('id="result-structured">')[1].split("<")[0]))
    image = call("tools", "conf__test_image_content")
    assert re.search(r'<img class="result-image" src="data:image/png;base64,[A-Za-z0-9+/=]+"', image)
    mixed = call("tools", "conf__test_multiple_content_types")
    assert 'data-kind="image"' in mixed and "test://mixed-content-resource" in mixed
    failed = call("tools", "conf__test_error_handling")
    assert 'id="result-is-error"' in failed and "Error executing tool test_error_handling" in texts(failed)
    prompt_form = ui.client.get("/admin/playground?prompt=up__review").text
    assert 'id="arg.topic"' in prompt_form and "topic *" in prompt_form
    prompt = call("prompts", "up__review", **{"arg.topic": "the <design>"})
    assert "Please review the <design>." in texts(prompt)
    uri = html.unescape(re.findall(r'data-uri="([^"]+)"', index)[0])
    read = call("resources", uri)
    assert "a note from upstream" in texts(read)
    unknown = call("resources", "memo://nowhere")
    assert 'id="result-error"' in unknown and "JSON-RPC error" in unknown


def test_only_raster_images_with_base64_data_become_data_urls() -> None:
    shown = shown_result(
        {
            "result": {
                "content": [
                    {"type": "image", "mimeType": "image/png", "data": "iVBORw0KGgo="},
                    {"type": "image", "mimeType": "image/svg+xml", "data": "PHN2Zz48L3N2Zz4="},
                    {"type": "image", "mimeType": "image/png", "data": '"><script>alert(1)</script>'},
                    {"type": "text", "text": "<script>alert(1)</script>"},
                ],
                "isError": False,
            }
        }
    )
    assert [p["kind"] for p in shown["parts"]] == ["image", "json", "json", "text"]
    assert shown["parts"][0]["url"] == "data:image/png;base64,iVBORw0KGgo="
    error = shown_result({"error": {"code": -32602, "message": "Unknown tool"}})
    assert error["is_error"] and error["error"]["code"] == -32602
