"""Untrusted input on the MCP endpoints: bodies that are not JSON we accept, and JSON-RPC held to its rules.

Every rule runs in both eras (a legacy session and stateless 2026-07-28) on ``/mcp`` and on
``/servers/{id}/mcp``. A parse error and a bad envelope are HTTP 400 in both eras; bad params are
-32602 with HTTP 200 in a legacy session (the answer to a request rides on 200 there) and with 400 in
2026-07-28 (the status the official SDK maps the code to). The app runs in process once for the module;
the HTTP+SSE ``/message`` endpoint with a live stream needs a real server process.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient

from ledgergate.api.app import create_app
from ledgergate.api.bootstrap import first_start
from ledgergate.api.json_limits import MAX_JSON_DEPTH
from ledgergate.api.runtime import build_runtime
from tests.api.conftest import Api, start_server
from tests.api.test_mcp_protocol import (
    ACCEPT,
    HANDBOOK,
    MODERN,
    NAME_FIELDS,
    OUTSIDER,
    SUMMARISE,
    Session,
    initialize,
    initialize_body,
    modern_meta,
    post,
    request,
    sse_events,
    write,
)
from tests.conftest import make_settings
from tests.support.echo import echo_service

CLIENT_INFO = {"name": "strictness-test", "version": "1"}
DEEP = [1_000, 100_000]

# -- the app, once for the module ------------------------------------------------------------------


@dataclass(frozen=True)
class Wire:
    api: Api
    server_id: str
    sessions: dict[str, Session]  # legacy sessions by endpoint path


@pytest.fixture(scope="module")
def wire(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Wire]:
    data = tmp_path_factory.mktemp("mcp-strictness")
    settings = make_settings(data / "data", f"sqlite:///{data / 'ledgergate.db'}")
    runtime = build_runtime(settings)
    started = first_start(runtime)
    assert started.token is not None
    try:
        with echo_service() as echo, TestClient(create_app(settings, runtime=runtime)) as client:
            api = Api(http=client, token=started.token)
            weather = {
                "name": "weather",
                "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
                "integration": {"method": "GET", "url": echo + "/weather/{city}"},
            }
            members = {
                "tool_ids": [write(api, "POST", "/v1/tenants/default/tools", weather)["id"]],
                "prompt_ids": [write(api, "POST", "/v1/tenants/default/prompts", SUMMARISE)["id"]],
                "resource_ids": [write(api, "POST", "/v1/tenants/default/resources", HANDBOOK)["id"]],
            }
            write(api, "POST", "/v1/tenants/default/tools", OUTSIDER)
            server = write(api, "POST", "/v1/tenants/default/servers", {"name": "strict", **members})["id"]
            paths = ["/mcp", f"/servers/{server}/mcp"]
            yield Wire(api, server, {path: initialize(api, path) for path in paths})
    finally:
        runtime.close()


@dataclass(frozen=True)
class Era:
    """Sends a message the way a client of one era does on one endpoint."""

    name: str  # "legacy" | "modern"
    path: str
    session: Session | None

    @property
    def params_status(self) -> int:
        """The HTTP status of a -32602 answering a request in this era."""
        return 200 if self.session is not None else 400

    def send(self, api: Api, message: Any, headers: dict[str, str | None] | None = None) -> httpx.Response:
        if self.session is not None:
            return post(api, self.path, message, {**self.session.headers, **(headers or {})})
        return post(api, self.path, *modern_envelope(message, headers))


def modern_envelope(message: Any, headers: dict[str, str | None] | None = None) -> tuple[Any, dict[str, str | None]]:
    """``message`` with the 2026-07-28 ``_meta`` fields (under those it brings) and the headers matching it."""
    sent: dict[str, str | None] = {"MCP-Protocol-Version": MODERN}
    if not isinstance(message, dict):
        return message, {**sent, **(headers or {})}
    message = dict(message)
    params = message.get("params", {})
    if isinstance(params, dict):
        meta = params.get("_meta", {})
        message["params"] = {**params, "_meta": {**modern_meta(), **meta} if isinstance(meta, dict) else meta}
    if isinstance(message.get("method"), str):
        sent["Mcp-Method"] = message["method"]
        field = NAME_FIELDS.get(message["method"])
        named = params.get(field) if isinstance(params, dict) and field else None
        if isinstance(named, str):
            sent["Mcp-Name"] = named
    return message, {**sent, **(headers or {})}


@pytest.fixture(params=["legacy-tenant", "legacy-server", "modern-tenant", "modern-server"])
def era(request: pytest.FixtureRequest, wire: Wire) -> Era:
    name, where = request.param.split("-")
    path = "/mcp" if where == "tenant" else f"/servers/{wire.server_id}/mcp"
    return Era(name, path, wire.sessions[path] if name == "legacy" else None)


@pytest.fixture(params=["tenant", "server"])
def legacy(request: pytest.FixtureRequest, wire: Wire) -> Era:
    path = "/mcp" if request.param == "tenant" else f"/servers/{wire.server_id}/mcp"
    return Era("legacy", path, wire.sessions[path])


def rpc_error(response: httpx.Response, status: int, code: int, request_id: Any = 1) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert (body["jsonrpc"], body["id"], body["error"]["code"]) == ("2.0", request_id, code), body
    assert "result" not in body
    return body["error"]  # type: ignore[no-any-return]


def nested(depth: int, kind: str = "array") -> bytes:
    """A JSON value ``depth`` arrays (or objects) deep."""
    if kind == "array":
        return b"[" * depth + b"]" * depth
    return b'{"a":' * (depth - 1) + b"{}" + b"}" * (depth - 1)


# -- bodies that are not JSON we accept ------------------------------------------------------------

NOT_UTF8 = [
    b'{"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"cursor": "\xff"}}',
    b"\xff\xfe{}",
    b'{"jsonrpc": "2.0", "id": 1, "method": "\xc0\xaf"}',  # an overlong encoding
    b'{"jsonrpc": "2.0", "id": "\xed\xa0\x80", "method": "ping"}',  # a UTF-16 surrogate, encoded
]


@pytest.mark.parametrize("body", NOT_UTF8, ids=["in-a-string", "leading", "overlong", "surrogate"])
def test_a_body_that_is_not_utf8_gets_400_parse_error(wire: Wire, era: Era, body: bytes) -> None:
    rpc_error(era.send(wire.api, body), 400, -32700, None)


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, *DEEP])
@pytest.mark.parametrize("kind", ["array", "object"])
def test_json_nested_past_the_depth_limit_gets_400_parse_error(wire: Wire, era: Era, depth: int, kind: str) -> None:
    rpc_error(era.send(wire.api, nested(depth, kind)), 400, -32700, None)


def test_a_message_nested_to_the_depth_limit_is_answered(wire: Wire, era: Era) -> None:
    def listing(depth: int) -> bytes:  # message, params and _meta are three levels
        meta = modern_meta() if era.session is None else {}
        inner = json.dumps(meta)[1:-1] + (", " if meta else "")
        return (
            b'{"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": {'
            + inner.encode()
            + b'"deep": '
            + nested(depth - 3)
            + b"}}}"
        )

    headers: dict[str, str | None] = {"Mcp-Method": "tools/list"}
    answered = era.send(wire.api, listing(MAX_JSON_DEPTH), headers)
    assert answered.status_code == 200, answered.text
    assert "tools" in answered.json()["result"]
    rpc_error(era.send(wire.api, listing(MAX_JSON_DEPTH + 1), headers), 400, -32700, None)


@pytest.mark.parametrize("where", ["tenant", "server"])
@pytest.mark.parametrize(
    "body",
    [b"{bad", NOT_UTF8[0], nested(1_000), nested(100_000, "object")],
    ids=["not-json", "not-utf8", "deep-array", "deep-object"],
)
def test_a_post_to_an_unknown_http_sse_session_gets_404_whatever_the_body(wire: Wire, where: str, body: bytes) -> None:
    prefix = "" if where == "tenant" else f"/servers/{wire.server_id}"
    response = post(wire.api, f"{prefix}/message?session_id=0123456789abcdef0123456789abcdef", body)
    rpc_error(response, 404, -32600, None)


# -- JSON-RPC envelopes ----------------------------------------------------------------------------


@pytest.mark.parametrize("method", [None, 5, [], {}, True], ids=["null", "number", "array", "object", "bool"])
def test_a_method_that_is_not_a_string_gets_400_invalid_request(wire: Wire, era: Era, method: Any) -> None:
    response = era.send(wire.api, {"jsonrpc": "2.0", "id": 1, "method": method, "params": {}})
    rpc_error(response, 400, -32600, 1)


@pytest.mark.parametrize("request_id", [1.5, 1.0, {}, {"n": 1}, [], None, True, False])
def test_an_unusable_id_gets_400_invalid_request_with_a_null_id(wire: Wire, era: Era, request_id: Any) -> None:
    rpc_error(era.send(wire.api, request("tools/list", {}, request_id)), 400, -32600, None)


@pytest.mark.parametrize("version", [None, "1.0", 2.0, "2.0 "], ids=["missing", "1.0", "number", "padded"])
def test_a_message_that_is_not_json_rpc_2_0_gets_400_invalid_request(wire: Wire, era: Era, version: Any) -> None:
    message: dict[str, Any] = {"id": 1, "method": "tools/list", "params": {}}
    if version is not None:
        message["jsonrpc"] = version
    rpc_error(era.send(wire.api, message), 400, -32600, 1)


BROKEN_RESPONSES = [
    {"jsonrpc": "2.0", "id": "lg-1"},
    {"jsonrpc": "2.0", "result": {}},
    {"jsonrpc": "2.0", "id": "lg-1", "result": {}, "error": {"code": 1, "message": "m"}},
    {"jsonrpc": "2.0", "id": "lg-1", "result": 5},
    {"jsonrpc": "2.0", "id": "lg-1", "error": {"code": "x", "message": "m"}},
    {"jsonrpc": "2.0", "id": "lg-1", "error": {"code": 1.5, "message": "m"}},
    {"jsonrpc": "2.0", "id": "lg-1", "error": "failed"},
]


@pytest.mark.parametrize("message", BROKEN_RESPONSES)
def test_a_message_that_is_neither_request_nor_response_gets_400_invalid_request(
    wire: Wire, era: Era, message: dict[str, Any]
) -> None:
    response = era.send(wire.api, message)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == -32600


@pytest.mark.parametrize(
    "message",
    [
        {"jsonrpc": "2.0", "id": "lg-1", "result": {}},
        {"jsonrpc": "2.0", "id": None, "error": {"code": -32601, "message": "no"}},
        {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": [1]}},
    ],
)
def test_a_response_or_notification_in_a_legacy_session_gets_202(
    wire: Wire, legacy: Era, message: dict[str, Any]
) -> None:
    response = legacy.send(wire.api, message)
    assert (response.status_code, response.content) == (202, b"")


def test_a_2026_client_sending_a_response_gets_400_invalid_request(wire: Wire) -> None:
    modern = Era("modern", "/mcp", None)
    response = modern.send(wire.api, {"jsonrpc": "2.0", "id": 1, "result": {}})
    rpc_error(response, 400, -32600, 1)


# -- initialize ------------------------------------------------------------------------------------


@pytest.mark.parametrize("request_id", [1.5, 0.0, {}, {"n": 1}, [], None, True])
def test_initialize_with_an_unusable_id_gets_400_invalid_request(wire: Wire, legacy: Era, request_id: Any) -> None:
    response = post(wire.api, legacy.path, {**initialize_body("2025-11-25"), "id": request_id})
    rpc_error(response, 400, -32600, None)
    assert "Mcp-Session-Id" not in response.headers


def test_initialize_without_an_id_gets_400_invalid_request(wire: Wire, legacy: Era) -> None:
    body = initialize_body("2025-11-25")
    del body["id"]
    response = post(wire.api, legacy.path, body)
    rpc_error(response, 400, -32600, None)
    assert "Mcp-Session-Id" not in response.headers


GOOD_INIT = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": CLIENT_INFO}


@pytest.mark.parametrize(
    "params",
    [
        [],
        "2025-11-25",
        {k: v for k, v in GOOD_INIT.items() if k != "protocolVersion"},
        {**GOOD_INIT, "protocolVersion": 20251125},
        {k: v for k, v in GOOD_INIT.items() if k != "capabilities"},
        {**GOOD_INIT, "capabilities": [1]},
        {**GOOD_INIT, "capabilities": {"sampling": 5}},
        {**GOOD_INIT, "capabilities": {"roots": []}},
        {**GOOD_INIT, "clientInfo": "client"},
        {**GOOD_INIT, "clientInfo": {"name": "c"}},
        {**GOOD_INIT, "clientInfo": {"name": 5, "version": "1"}},
        {**GOOD_INIT, "_meta": {"progressToken": 1.5}},
    ],
)
def test_initialize_with_params_off_the_schema_gets_400_32602_and_no_session(
    wire: Wire, legacy: Era, params: Any
) -> None:
    response = post(wire.api, legacy.path, {"jsonrpc": "2.0", "id": 7, "method": "initialize", "params": params})
    rpc_error(response, 400, -32602, 7)
    assert "Mcp-Session-Id" not in response.headers


# -- params of every method ------------------------------------------------------------------------

OFF_SCHEMA: list[tuple[str, Any]] = [
    ("tools/call", None),
    ("prompts/get", None),
    ("resources/read", None),
    ("completion/complete", None),
    ("tools/list", {"cursor": 5}),
    ("tools/list", {"cursor": ["c"]}),
    ("prompts/list", {"cursor": True}),
    ("resources/list", {"cursor": {}}),
    ("resources/templates/list", {"cursor": 1.5}),
    ("tools/list", []),
    ("tools/list", "params"),
    ("tools/list", 5),
    ("tools/call", {"name": "weather", "arguments": []}),
    ("tools/call", {"name": "weather", "arguments": ""}),
    ("tools/call", {"name": "weather", "arguments": 0}),
    ("tools/call", {"name": "weather", "arguments": False}),
    ("tools/call", {"name": "weather", "arguments": "city=Oslo"}),
    ("tools/call", {"name": "weather", "arguments": [["city", "Oslo"]]}),
    ("tools/call", {"arguments": {"city": "Oslo"}}),
    ("tools/call", {"name": None, "arguments": {"city": "Oslo"}}),
    ("tools/call", {"name": "weather", "arguments": {"city": "Oslo"}, "requestState": 5}),
    ("tools/call", {"name": "weather", "arguments": {"city": "Oslo"}, "inputResponses": []}),
    ("prompts/get", {"name": "summarise", "arguments": {"text": 5}}),
    ("prompts/get", {"name": "summarise", "arguments": {"text": None}}),
    ("prompts/get", {"name": "summarise", "arguments": {"text": ["it"]}}),
    ("prompts/get", {"name": "summarise", "arguments": {"text": {"a": "it"}}}),
    ("prompts/get", {"name": "summarise", "arguments": {"text": True}}),
    ("prompts/get", {"name": "summarise", "arguments": ["it"]}),
    ("prompts/get", {"arguments": {"text": "it"}}),
    ("resources/read", {}),
    ("resources/read", {"uri": None}),
    ("resources/read", {"uri": "handbook"}),
    ("resources/read", {"uri": "docs:// handbook"}),
    ("completion/complete", {"argument": {"name": "text", "value": "x"}}),
    ("completion/complete", {"ref": "summarise", "argument": {"name": "text", "value": "x"}}),
    ("completion/complete", {"ref": {"type": "ref/prompt"}, "argument": {"name": "text", "value": "x"}}),
    ("completion/complete", {"ref": {"type": "ref/prompt", "name": []}, "argument": {"name": "text", "value": "x"}}),
    ("completion/complete", {"ref": {"type": "ref/resource", "uri": {}}, "argument": {"name": "a", "value": "x"}}),
    ("completion/complete", {"ref": {"type": "ref/tool", "name": "weather"}, "argument": {"name": "a", "value": "x"}}),
    ("completion/complete", {"ref": {"type": "ref/resource", "uri": HANDBOOK["uri"]}}),
    ("completion/complete", {"ref": {"type": "ref/prompt", "name": "summarise"}, "argument": {"name": "text"}}),
    (
        "completion/complete",
        {"ref": {"type": "ref/prompt", "name": "summarise"}, "argument": {"name": "text", "value": 5}},
    ),
    ("completion/complete", {"ref": {"type": "ref/resource", "uri": HANDBOOK["uri"]}, "argument": []}),
    (
        "completion/complete",
        {"ref": {"type": "ref/prompt", "name": "summarise"}, "argument": {"name": "text", "value": ""}, "context": 5},
    ),
    (
        "completion/complete",
        {
            "ref": {"type": "ref/prompt", "name": "summarise"},
            "argument": {"name": "text", "value": ""},
            "context": {"arguments": {"other": 1}},
        },
    ),
    ("tools/list", {"_meta": {"progressToken": 1.5}}),
    ("tools/list", {"_meta": {"progressToken": True}}),
    ("tools/call", {"name": "weather", "arguments": {"city": "Oslo"}, "_meta": {"progressToken": {}}}),
]


@pytest.mark.parametrize(("method", "params"), OFF_SCHEMA)
def test_params_off_the_methods_schema_get_32602(wire: Wire, era: Era, method: str, params: Any) -> None:
    rpc_error(era.send(wire.api, request(method, params)), era.params_status, -32602)


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("tools/call", {"name": 5, "arguments": {}}),
        ("prompts/get", {"name": ["summarise"]}),
        ("resources/read", {"uri": 5}),
        ("resources/read", {"uri": {"href": HANDBOOK["uri"]}}),
    ],
)
def test_a_name_or_uri_that_is_not_a_string_is_refused_in_each_era(
    wire: Wire, era: Era, method: str, params: dict[str, Any]
) -> None:
    """In 2026-07-28 the ``Mcp-Name`` header is checked first, and no header can equal a non-string."""
    code = -32602 if era.session is not None else -32020
    rpc_error(era.send(wire.api, request(method, params)), era.params_status, code)


LEGACY_OFF_SCHEMA = [
    ("resources/subscribe", {}),
    ("resources/subscribe", {"uri": None}),
    ("resources/subscribe", {"uri": 5}),
    ("resources/subscribe", {"uri": [HANDBOOK["uri"]]}),
    ("resources/subscribe", {"uri": "handbook"}),
    ("resources/unsubscribe", {}),
    ("resources/unsubscribe", {"uri": {"uri": HANDBOOK["uri"]}}),
    ("logging/setLevel", {}),
    ("logging/setLevel", {"level": None}),
    ("logging/setLevel", {"level": 3}),
    ("logging/setLevel", {"level": "WARNING"}),
    ("ping", {"_meta": []}),
    ("ping", {"_meta": "meta"}),
    ("tools/list", {"_meta": 5}),
]


@pytest.mark.parametrize(("method", "params"), LEGACY_OFF_SCHEMA)
def test_legacy_only_params_off_the_schema_get_32602(wire: Wire, legacy: Era, method: str, params: Any) -> None:
    rpc_error(legacy.send(wire.api, request(method, params)), 200, -32602)


@pytest.mark.parametrize("method", ["resources/subscribe", "resources/unsubscribe"])
def test_subscribing_to_a_well_formed_unknown_uri_still_gets_32002(wire: Wire, legacy: Era, method: str) -> None:
    failed = rpc_error(legacy.send(wire.api, request(method, {"uri": "docs://nope"})), 200, -32002)
    assert failed["data"]["uri"] == "docs://nope"


@pytest.mark.parametrize("params", [{}, {"uri": 5}, {"uri": HANDBOOK["uri"]}])
def test_resources_subscribe_in_2026_is_method_not_found_whatever_its_params(
    wire: Wire, params: dict[str, Any]
) -> None:
    modern = Era("modern", "/mcp", None)
    rpc_error(modern.send(wire.api, request("resources/subscribe", params)), 404, -32601)


@pytest.mark.parametrize(
    ("member", "value"),
    [
        ("io.modelcontextprotocol/clientCapabilities", {"sampling": 5}),
        ("io.modelcontextprotocol/clientCapabilities", {"elicitation": []}),
        ("io.modelcontextprotocol/clientInfo", "client"),
        ("io.modelcontextprotocol/logLevel", "loud"),
        ("io.modelcontextprotocol/logLevel", 3),
    ],
)
def test_a_2026_envelope_off_the_schema_gets_400_32602(wire: Wire, member: str, value: Any) -> None:
    message, headers = modern_envelope(request("tools/list", {"_meta": modern_meta(**{member: value})}))
    rpc_error(post(wire.api, "/mcp", message, headers), 400, -32602)


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("tools/list", {"cursor": None}),
        ("tools/call", {"name": "weather", "arguments": None}),
        ("prompts/get", {"name": "summarise", "arguments": {"text": "it"}, "requestState": None}),
    ],
)
def test_an_optional_member_sent_as_null_counts_as_absent(
    wire: Wire, era: Era, method: str, params: dict[str, Any]
) -> None:
    response = era.send(wire.api, request(method, params))
    assert response.status_code == 200, response.text
    assert "result" in response.json(), response.text


def test_params_sent_as_null_count_as_absent_in_a_legacy_session(wire: Wire, legacy: Era) -> None:
    for params in (None, {"_meta": None}):
        response = legacy.send(wire.api, {**request("tools/list"), "params": params})
        assert "tools" in response.json()["result"], response.text


def test_a_call_of_an_unknown_tool_is_refused_before_any_event_stream_starts(wire: Wire, era: Era) -> None:
    params = {"name": "nope", "arguments": {}, "_meta": {"progressToken": "p-1"}}
    response = era.send(wire.api, request("tools/call", params))
    rpc_error(response, era.params_status, -32602)


def test_an_unknown_method_is_method_not_found_whatever_its_params(wire: Wire, era: Era) -> None:
    status = 200 if era.session is not None else 404
    offs: list[dict[str, Any]] = [{"cursor": 5}, {"_meta": {"progressToken": 1.5}}, {"name": []}]
    for params in offs:
        rpc_error(era.send(wire.api, request("tools/lisst", params)), status, -32601)


def test_a_well_formed_request_still_gets_its_result(wire: Wire, era: Era) -> None:
    called = era.send(wire.api, request("tools/call", {"name": "weather", "arguments": {"city": "Oslo"}}))
    assert called.status_code == 200, called.text
    assert called.json()["result"].get("isError", False) is False
    rendered = era.send(wire.api, request("prompts/get", {"name": "summarise", "arguments": {"text": "it"}}))
    assert rendered.json()["result"]["messages"][0]["content"]["text"] == "Summarise it"


# -- batches (2025-03-26 sessions only) ------------------------------------------------------------


@pytest.fixture
def batching(wire: Wire, legacy: Era) -> Era:
    return Era("legacy", legacy.path, initialize(wire.api, legacy.path, "2025-03-26"))


def test_batch_items_that_are_not_json_rpc_each_get_invalid_request(wire: Wire, batching: Era) -> None:
    batch = [
        {"id": 1, "method": "ping"},
        {"jsonrpc": "1.0", "id": 2, "method": "ping"},
        5,
        {"jsonrpc": "2.0", "id": 3, "method": "ping"},
        {"jsonrpc": "2.0", "id": 1.5, "method": "ping"},
        {"jsonrpc": "2.0", "id": 4, "method": None},
        {"jsonrpc": "2.0", "id": 5, "method": "initialize", "params": GOOD_INIT},
        {"jsonrpc": "2.0", "id": 6, "method": "tools/call", "params": {"name": "weather", "arguments": []}},
    ]
    response = batching.send(wire.api, batch)
    assert response.status_code == 200, response.text
    answers = sorted(
        ((a["id"] if a["id"] is not None else -1), a.get("error", {}).get("code", "result")) for a in response.json()
    )
    assert answers == sorted(
        [(1, -32600), (2, -32600), (-1, -32600), (3, "result"), (-1, -32600), (4, -32600), (5, -32600), (6, -32602)]
    )


def test_a_batch_of_non_objects_gets_one_invalid_request_per_item(wire: Wire, batching: Era) -> None:
    response = batching.send(wire.api, [1, "two", None])
    assert response.status_code == 200, response.text
    assert [(a["id"], a["error"]["code"]) for a in response.json()] == [(None, -32600)] * 3


def test_a_batch_in_2026_gets_400_invalid_request(wire: Wire) -> None:
    response = Era("modern", "/mcp", None).send(wire.api, [request("tools/list", {"_meta": modern_meta()})])
    rpc_error(response, 400, -32600, None)


# -- HTTP+SSE on a real server: a bad body is refused on the POST, the session lives on ---------------


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    data: Path = tmp_path_factory.mktemp("mcp-strict-sse") / "data"
    server = start_server(data)
    try:
        with httpx.Client(timeout=10) as http:
            yield Api(http=http, token=(data / "admin-token").read_text().strip(), base=server.url)
    finally:
        server.stop()


@pytest.mark.slow
@pytest.mark.parametrize(
    "body",
    [b"{bad", NOT_UTF8[0], nested(1_000), nested(100_000, "object"), b"[]"],
    ids=["not-json", "not-utf8", "deep-array", "deep-object", "empty-batch"],
)
def test_a_bad_body_on_a_live_http_sse_session_gets_400_on_the_post_and_the_session_lives_on(
    served: Api, body: bytes
) -> None:
    api = served
    messages: list[dict[str, Any]] = []
    ready = threading.Event()
    with api.http.stream("GET", api.base + "/sse", headers=api.headers(Accept="text/event-stream")) as stream:
        events = sse_events(stream.iter_lines(), time.monotonic() + 10)
        event, endpoint = next(events)
        assert event == "endpoint"

        def read() -> None:
            for _, data in events:
                messages.append(json.loads(data))
                ready.set()
                return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        refused = api.call("POST", endpoint, content=body, headers={"Content-Type": "application/json"})
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"]["code"] in (-32700, -32600)
        assert refused.json()["id"] is None
        answered = api.call("POST", endpoint, json=initialize_body("2024-11-05"))
        assert answered.status_code == 202
        assert ready.wait(10), "no answer on the stream"
    assert messages[0]["id"] == 0
    assert messages[0]["result"]["protocolVersion"] == "2024-11-05"


@pytest.mark.slow
@pytest.mark.parametrize(
    "params",
    [
        {"notifications": []},
        {"notifications": {"toolsListChanged": "yes"}},
        {"notifications": {"resourceSubscriptions": HANDBOOK["uri"]}},
        {"notifications": {"resourceSubscriptions": [5]}},
    ],
)
def test_a_subscriptions_listen_off_the_schema_gets_400_32602_and_no_stream(
    served: Api, params: dict[str, Any]
) -> None:
    message, headers = modern_envelope(request("subscriptions/listen", params))
    headers = {**served.headers(), "Accept": ACCEPT, "Content-Type": "application/json", **headers}
    with served.http.stream("POST", served.base + "/mcp", headers=headers, json=message) as response:
        assert response.headers["content-type"].startswith("application/json")
        assert response.status_code == 400
        assert json.loads(response.read())["error"]["code"] == -32602
