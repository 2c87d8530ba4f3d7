"""The MCP endpoints over raw HTTP (no MCP SDK): every status and error rule of both protocol eras.

Legacy (2024-11-05 ... 2025-11-25): ``initialize`` opens a session named by ``Mcp-Session-Id``. Modern
(2026-07-28): stateless, every request carries ``params._meta`` and the ``MCP-Protocol-Version``,
``Mcp-Method`` and ``Mcp-Name`` headers. Most rules run on ``/mcp`` and on ``/servers/{id}/mcp``, in process
on SQLite and PostgreSQL; the streams (GET, ``subscriptions/listen`` and the legacy HTTP+SSE transport) need a
real server process, because the in-process client buffers a response until it ends.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.api.conftest import Api, start_server
from tests.support.echo import echo_service

LEGACY_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
LATEST_LEGACY = "2025-11-25"
MODERN = "2026-07-28"
MODERN_ERROR_CODES = {-32020, -32021, -32022}
META_VERSION = "io.modelcontextprotocol/protocolVersion"
META_CAPABILITIES = "io.modelcontextprotocol/clientCapabilities"
NAME_FIELDS = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}
ACCEPT = "application/json, text/event-stream"
CLIENT_INFO = {"name": "raw-http-test", "version": "1"}

OUTSIDER = {
    "name": "outsider",
    "input_schema": {"type": "object"},
    "integration": {"method": "GET", "url": "https://api.example.com/outsider"},
}
SUMMARISE = {"name": "summarise", "template": "Summarise {{ text }}", "arguments": [{"name": "text", "required": True}]}
HANDBOOK = {"uri": "docs://handbook", "name": "handbook", "mime_type": "text/markdown", "text": "# Handbook"}


# -- helpers ---------------------------------------------------------------------------------------


def wait_hot(api: Api, position: int) -> None:
    """Wait until this process's hot catalogs (what MCP serves) have folded the log up to ``position``."""
    hot = api.http.app.state.runtime.hot
    deadline = time.monotonic() + 10
    while hot.position < position:
        assert time.monotonic() < deadline, f"hot catalogs stuck at {hot.position}, waiting for {position}"
        time.sleep(0.01)


def write(api: Api, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """A REST write, waited for until MCP can see it."""
    response = api.call(method, path, json=body)
    assert response.status_code in (200, 201), response.text
    written: dict[str, Any] = response.json()
    wait_hot(api, written["position"])
    return written


def post(
    api: Api,
    path: str,
    body: Any,
    headers: dict[str, str | None] | None = None,
    token: str | None = None,
) -> httpx.Response:
    """POST a JSON-RPC body (an object, an array, or raw bytes); a header given as None is left out."""
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    merged = {"Accept": ACCEPT, "Content-Type": "application/json", **(headers or {})}
    return api.call(
        "POST", path, token=token, headers={k: v for k, v in merged.items() if v is not None}, content=content
    )


@dataclass(frozen=True)
class Session:
    id: str
    version: str
    path: str

    @property
    def headers(self) -> dict[str, str | None]:
        return {"Mcp-Session-Id": self.id, "MCP-Protocol-Version": self.version}


def initialize_body(version: str) -> dict[str, Any]:
    params = {"protocolVersion": version, "capabilities": {}, "clientInfo": CLIENT_INFO}
    return {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": params}


def initialize(api: Api, path: str = "/mcp", version: str = LATEST_LEGACY, token: str | None = None) -> Session:
    response = post(api, path, initialize_body(version), token=token)
    assert response.status_code == 200, response.text
    return Session(response.headers["Mcp-Session-Id"], response.json()["result"]["protocolVersion"], path)


def request(method: str, params: dict[str, Any] | None = None, request_id: Any = 1) -> dict[str, Any]:
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        body["params"] = params
    return body


def rpc(
    api: Api,
    session: Session,
    method: str,
    params: dict[str, Any] | None = None,
    request_id: Any = 1,
    headers: dict[str, str | None] | None = None,
) -> httpx.Response:
    """A legacy request in ``session``."""
    return post(api, session.path, request(method, params, request_id), {**session.headers, **(headers or {})})


def modern_meta(**overrides: Any) -> dict[str, Any]:
    meta = {META_VERSION: MODERN, META_CAPABILITIES: {}, "io.modelcontextprotocol/clientInfo": CLIENT_INFO}
    return {k: v for k, v in {**meta, **overrides}.items() if v is not None}


def modern(
    api: Api,
    method: str,
    params: dict[str, Any] | None = None,
    path: str = "/mcp",
    headers: dict[str, str | None] | None = None,
    meta: dict[str, Any] | None = None,
    request_id: Any = 1,
    token: str | None = None,
) -> httpx.Response:
    """A modern (2026-07-28) request with the ``_meta`` envelope and the HTTP headers a client must send."""
    params = {**(params or {}), "_meta": modern_meta() if meta is None else meta}
    standard = {"MCP-Protocol-Version": MODERN, "Mcp-Method": method}
    if method in NAME_FIELDS:
        standard["Mcp-Name"] = str(params.get(NAME_FIELDS[method]))
    return post(api, path, request(method, params, request_id), {**standard, **(headers or {})}, token=token)


def result(response: httpx.Response, request_id: Any = 1) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert (body["jsonrpc"], body["id"]) == ("2.0", request_id), body
    assert "error" not in body, body
    return body["result"]  # type: ignore[no-any-return]


def error(response: httpx.Response, status: int, code: int, request_id: Any = 1) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert (body["jsonrpc"], body["id"]) == ("2.0", request_id), body
    assert "result" not in body, body
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str)
    return body["error"]  # type: ignore[no-any-return]


def names(listed: dict[str, Any], key: str = "tools", field: str = "name") -> list[str]:
    return [entry[field] for entry in listed[key]]


def challenge(response: httpx.Response) -> dict[str, str]:
    """The parameters of a ``WWW-Authenticate: Bearer k="v", ...`` header."""
    scheme, _, rest = response.headers["WWW-Authenticate"].partition(" ")
    assert scheme == "Bearer"
    params = {}
    for part in rest.split('", '):
        key, _, value = part.partition("=")
        params[key.strip()] = value.strip().strip('"')
    return params


def issue_token(api: Api, tenant: str, role: str, server_ids: list[str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"name": f"{role}-{secrets.token_hex(4)}", "role": role}
    if server_ids is not None:
        body["server_ids"] = server_ids
    return write(api, "POST", f"/v1/tenants/{tenant}/tokens", body)


# -- fixtures --------------------------------------------------------------------------------------


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """The MCP layer reads only the hot catalogs, so its rules are checked on SQLite alone (the registry's
    storage contract runs on both databases elsewhere)."""
    return f"sqlite:///{tmp_path / 'ledgergate.db'}"


@pytest.fixture(scope="module")
def echo() -> Iterator[str]:
    with echo_service() as url:
        yield url


@dataclass(frozen=True)
class Catalog:
    """Tenant ``default``: tools weather (on the server) and outsider (not); a prompt and a resource (on it)."""

    weather_id: str
    server_id: str

    @property
    def server_path(self) -> str:
        return f"/servers/{self.server_id}/mcp"


@pytest.fixture
def catalog(api: Api, echo: str) -> Catalog:
    weather = {
        "name": "weather",
        "description": "Weather for a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        "integration": {"method": "GET", "url": echo + "/weather/{city}"},
    }
    tool = write(api, "POST", "/v1/tenants/default/tools", weather)
    write(api, "POST", "/v1/tenants/default/tools", OUTSIDER)
    prompt = write(api, "POST", "/v1/tenants/default/prompts", SUMMARISE)
    resource = write(api, "POST", "/v1/tenants/default/resources", HANDBOOK)
    members = {"tool_ids": [tool["id"]], "prompt_ids": [prompt["id"]], "resource_ids": [resource["id"]]}
    server = write(api, "POST", "/v1/tenants/default/servers", {"name": "assistant", **members})
    return Catalog(weather_id=tool["id"], server_id=server["id"])


@pytest.fixture(params=["tenant", "server"])
def endpoint(request: pytest.FixtureRequest, catalog: Catalog) -> str:
    """The tenant-wide ``/mcp`` or the virtual server's ``/servers/{id}/mcp``; both hold weather and the rest."""
    return "/mcp" if request.param == "tenant" else catalog.server_path


@pytest.fixture
def session(api: Api, endpoint: str) -> Session:
    return initialize(api, endpoint)


# -- legacy: lifecycle and sessions ----------------------------------------------------------------


@pytest.mark.parametrize("version", LEGACY_VERSIONS)
def test_initialize_echoes_a_supported_protocol_version(api: Api, endpoint: str, version: str) -> None:
    response = post(api, endpoint, initialize_body(version))
    initialized = result(response, request_id=0)
    assert initialized["protocolVersion"] == version
    assert initialized["serverInfo"]["name"] == "ledgergate"
    assert {"tools", "resources", "prompts"} <= set(initialized["capabilities"])


def test_initialize_answers_the_latest_legacy_version_to_an_unknown_one(api: Api, endpoint: str) -> None:
    response = post(api, endpoint, initialize_body("2099-01-01"))
    assert result(response, request_id=0)["protocolVersion"] == LATEST_LEGACY


def test_initialize_returns_a_session_id_of_visible_ascii(api: Api, endpoint: str) -> None:
    response = post(api, endpoint, initialize_body(LATEST_LEGACY))
    assert response.status_code == 200
    session_id = response.headers["Mcp-Session-Id"]
    assert session_id
    assert all(0x21 <= ord(char) <= 0x7E for char in session_id)
    assert post(api, endpoint, initialize_body(LATEST_LEGACY)).headers["Mcp-Session-Id"] != session_id


def test_a_request_without_a_session_id_gets_400(api: Api, endpoint: str) -> None:
    response = post(api, endpoint, request("tools/list"), {"MCP-Protocol-Version": LATEST_LEGACY})
    error(response, 400, -32600, request_id=None)


def test_a_request_with_an_unknown_session_id_gets_404(api: Api, endpoint: str) -> None:
    unknown = Session("0123456789abcdef0123456789abcdef", LATEST_LEGACY, endpoint)
    error(rpc(api, unknown, "tools/list"), 404, -32600, request_id=None)


def test_a_session_of_another_endpoint_is_unknown_here(api: Api, catalog: Catalog) -> None:
    session = initialize(api, "/mcp")
    elsewhere = Session(session.id, session.version, catalog.server_path)
    error(rpc(api, elsewhere, "tools/list"), 404, -32600, request_id=None)


def test_delete_ends_a_session_and_its_next_post_gets_404(api: Api, endpoint: str, session: Session) -> None:
    assert result(rpc(api, session, "ping")) == {}
    deleted = api.call("DELETE", endpoint, headers={"Mcp-Session-Id": session.id})
    assert deleted.status_code == 200
    error(rpc(api, session, "ping"), 404, -32600, request_id=None)


def test_an_unsupported_protocol_version_header_gets_400_without_a_modern_error_code(
    api: Api, session: Session
) -> None:
    response = rpc(api, session, "tools/list", headers={"MCP-Protocol-Version": "1999-01-01"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] not in MODERN_ERROR_CODES


def test_a_notification_gets_202_with_an_empty_body(api: Api, session: Session) -> None:
    response = post(api, session.path, {"jsonrpc": "2.0", "method": "notifications/initialized"}, session.headers)
    assert response.status_code == 202
    assert response.content == b""


def test_ping_answers_an_empty_result(api: Api, session: Session) -> None:
    assert result(rpc(api, session, "ping")) == {}


def test_logging_set_level_to_a_valid_level_answers_an_empty_result(api: Api, session: Session) -> None:
    assert result(rpc(api, session, "logging/setLevel", {"level": "warning"})) == {}


def test_logging_set_level_to_an_invalid_level_gets_32602(api: Api, session: Session) -> None:
    error(rpc(api, session, "logging/setLevel", {"level": "loud"}), 200, -32602)


# -- legacy: JSON-RPC framing ----------------------------------------------------------------------


def test_a_batch_in_a_2025_03_26_session_gets_an_array_of_replies(api: Api, endpoint: str) -> None:
    session = initialize(api, endpoint, "2025-03-26")
    batch = [request("ping", request_id=1), {"jsonrpc": "2.0", "method": "notifications/initialized"}]
    batch.append(request("tools/list", request_id="two"))
    response = post(api, endpoint, batch, session.headers)
    assert response.status_code == 200, response.text
    replies = {reply["id"]: reply for reply in response.json()}
    assert set(replies) == {1, "two"}
    assert replies[1]["result"] == {}
    assert "weather" in names(replies["two"]["result"])


def test_a_batch_in_a_2025_11_25_session_is_refused(api: Api, session: Session) -> None:
    response = post(api, session.path, [request("ping", request_id=1), request("ping", request_id=2)], session.headers)
    assert 400 <= response.status_code < 500
    assert "result" not in response.text


@pytest.mark.parametrize("request_id", ["req-7", "7", "", 7, 0, -3, 2**53 + 1])
def test_string_and_integer_ids_are_echoed_unchanged(api: Api, session: Session, request_id: str | int) -> None:
    assert result(rpc(api, session, "ping", request_id=request_id), request_id=request_id) == {}


def test_a_body_that_is_not_json_gets_400_parse_error_with_a_null_id(api: Api, session: Session) -> None:
    error(post(api, session.path, b'{"jsonrpc": "2.0", "id": 1, "method": ', session.headers), 400, -32700, None)


def test_a_message_that_is_not_json_rpc_2_0_gets_32600(api: Api, session: Session) -> None:
    body = {"jsonrpc": "1.0", "id": 1, "method": "ping"}
    response = post(api, session.path, body, session.headers)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == -32600


def test_an_unknown_method_gets_32601(api: Api, session: Session) -> None:
    error(rpc(api, session, "foo/bar"), 200, -32601)


# -- legacy: catalog methods -----------------------------------------------------------------------


def test_calling_an_unknown_tool_gets_32602(api: Api, session: Session) -> None:
    error(rpc(api, session, "tools/call", {"name": "nope", "arguments": {}}), 200, -32602)


def test_getting_an_unknown_prompt_gets_32602(api: Api, session: Session) -> None:
    error(rpc(api, session, "prompts/get", {"name": "nope", "arguments": {}}), 200, -32602)


def test_getting_a_prompt_without_a_required_argument_gets_32602(api: Api, session: Session) -> None:
    error(rpc(api, session, "prompts/get", {"name": "summarise", "arguments": {}}), 200, -32602)
    rendered = result(rpc(api, session, "prompts/get", {"name": "summarise", "arguments": {"text": "it"}}))
    assert rendered["messages"][0]["content"]["text"] == "Summarise it"


def test_reading_an_unknown_resource_gets_32002_in_a_legacy_session(api: Api, session: Session) -> None:
    error(rpc(api, session, "resources/read", {"uri": "docs://nope"}), 200, -32002)
    read = result(rpc(api, session, "resources/read", {"uri": HANDBOOK["uri"]}))
    assert read["contents"][0]["text"] == HANDBOOK["text"]


@pytest.mark.parametrize("cursor", ["garbage!!", "cGFnZTo5OQ", "", 17])
def test_a_garbage_cursor_gets_32602(api: Api, session: Session, cursor: Any) -> None:
    error(rpc(api, session, "tools/list", {"cursor": cursor}), 200, -32602)


def test_tools_list_returns_the_enabled_tools_of_the_tenant(api: Api, catalog: Catalog) -> None:
    write(api, "POST", "/v1/tenants", {"name": "acme"})
    write(api, "POST", "/v1/tenants/acme/tools", {**OUTSIDER, "name": "acme_only"})
    session = initialize(api, "/mcp")
    listed = result(rpc(api, session, "tools/list"))
    assert names(listed) == ["outsider", "weather"]
    assert listed["tools"][1]["inputSchema"]["required"] == ["city"]


def test_a_virtual_servers_tools_list_returns_only_its_members(api: Api, catalog: Catalog) -> None:
    session = initialize(api, catalog.server_path)
    assert names(result(rpc(api, session, "tools/list"))) == ["weather"]
    assert names(result(rpc(api, session, "prompts/list")), "prompts") == ["summarise"]
    assert names(result(rpc(api, session, "resources/list")), "resources", "uri") == [HANDBOOK["uri"]]


def test_a_disabled_tool_disappears_from_tools_list(api: Api, catalog: Catalog, session: Session) -> None:
    assert "weather" in names(result(rpc(api, session, "tools/list")))
    write(api, "POST", f"/v1/tenants/default/tools/{catalog.weather_id}/disable")
    assert "weather" not in names(result(rpc(api, session, "tools/list")))
    error(rpc(api, session, "tools/call", {"name": "weather", "arguments": {"city": "Oslo"}}), 200, -32602)


def test_get_without_accepting_an_event_stream_gets_406(api: Api, session: Session) -> None:
    response = api.call("GET", session.path, headers={**session.headers, "Accept": "application/json"})
    assert response.status_code == 406


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_get_or_delete_without_a_session_id_gets_400(api: Api, endpoint: str, method: str) -> None:
    response = api.call(method, endpoint, headers={"Accept": "text/event-stream"})
    error(response, 400, -32600, request_id=None)


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_get_or_delete_with_an_unknown_session_id_gets_404(api: Api, endpoint: str, method: str) -> None:
    headers = {"Accept": "text/event-stream", "Mcp-Session-Id": "0123456789abcdef0123456789abcdef"}
    error(api.call(method, endpoint, headers=headers), 404, -32600, request_id=None)


# -- modern (2026-07-28) ---------------------------------------------------------------------------


def test_server_discover_describes_versions_capabilities_and_caching(api: Api, endpoint: str) -> None:
    discovered = result(modern(api, "server/discover", path=endpoint))
    assert MODERN in discovered["supportedVersions"]
    assert {"tools", "resources", "prompts"} <= set(discovered["capabilities"])
    assert discovered["resultType"] == "complete"
    assert isinstance(discovered["ttlMs"], int) and discovered["ttlMs"] >= 0
    assert discovered["cacheScope"] in ("public", "private")


@pytest.mark.parametrize(
    ("method", "key"),
    [
        ("tools/list", "tools"),
        ("prompts/list", "prompts"),
        ("resources/list", "resources"),
        ("resources/templates/list", "resourceTemplates"),
    ],
)
def test_list_results_carry_result_type_and_caching_hints(api: Api, endpoint: str, method: str, key: str) -> None:
    listed = result(modern(api, method, path=endpoint))
    assert isinstance(listed[key], list)
    assert listed["resultType"] == "complete"
    assert isinstance(listed["ttlMs"], int) and listed["ttlMs"] >= 0
    assert listed["cacheScope"] in ("public", "private")


@pytest.mark.parametrize("missing", [META_VERSION, META_CAPABILITIES])
def test_a_request_missing_a_required_meta_field_gets_400_32602(api: Api, endpoint: str, missing: str) -> None:
    response = modern(api, "tools/list", path=endpoint, meta=modern_meta(**{missing: None}))
    error(response, 400, -32602)


def test_an_unsupported_meta_version_gets_400_32022_naming_supported_and_requested(api: Api, endpoint: str) -> None:
    response = modern(
        api,
        "tools/list",
        path=endpoint,
        meta=modern_meta(**{META_VERSION: "2099-01-01"}),
        headers={"MCP-Protocol-Version": "2099-01-01"},
    )
    data = error(response, 400, -32022)["data"]
    assert MODERN in data["supported"]
    assert data["requested"] == "2099-01-01"


@pytest.mark.parametrize(
    ("method", "params", "headers"),
    [
        ("tools/list", {}, {"Mcp-Method": "prompts/list"}),
        ("tools/list", {}, {"Mcp-Method": None}),
        ("tools/call", {"name": "weather", "arguments": {"city": "Oslo"}}, {"Mcp-Name": "outsider"}),
        ("tools/call", {"name": "weather", "arguments": {"city": "Oslo"}}, {"Mcp-Name": None}),
        ("prompts/get", {"name": "summarise", "arguments": {"text": "x"}}, {"Mcp-Name": "other"}),
        ("resources/read", {"uri": HANDBOOK["uri"]}, {"Mcp-Name": "docs://other"}),
        ("tools/list", {}, {"MCP-Protocol-Version": LATEST_LEGACY}),
        ("tools/list", {}, {"MCP-Protocol-Version": None}),
    ],
    ids=["method", "no-method", "name", "no-name", "prompt-name", "uri", "version", "no-version"],
)
def test_a_header_that_disagrees_with_the_body_gets_400_32020(
    api: Api, endpoint: str, method: str, params: dict[str, Any], headers: dict[str, str | None]
) -> None:
    error(modern(api, method, params, path=endpoint, headers=headers), 400, -32020)


def test_a_base64_encoded_mcp_name_is_decoded_before_comparing(api: Api, endpoint: str) -> None:
    encoded = "=?base64?" + base64.b64encode(HANDBOOK["uri"].encode()).decode() + "?="
    response = modern(api, "resources/read", {"uri": HANDBOOK["uri"]}, path=endpoint, headers={"Mcp-Name": encoded})
    assert result(response)["contents"][0]["text"] == HANDBOOK["text"]


@pytest.mark.parametrize(("method", "params"), [("ping", {}), ("logging/setLevel", {"level": "info"})])
def test_methods_removed_in_modern_get_404_32601(api: Api, endpoint: str, method: str, params: dict[str, Any]) -> None:
    error(modern(api, method, params, path=endpoint), 404, -32601)


def test_reading_an_unknown_resource_gets_400_32602_with_its_uri_in_modern(api: Api, endpoint: str) -> None:
    failed = error(modern(api, "resources/read", {"uri": "docs://nope"}, path=endpoint), 400, -32602)
    assert failed["data"]["uri"] == "docs://nope"


def test_a_modern_resource_read_carries_result_type_and_caching_hints(api: Api, endpoint: str) -> None:
    read = result(modern(api, "resources/read", {"uri": HANDBOOK["uri"]}, path=endpoint))
    assert read["contents"][0]["uri"] == HANDBOOK["uri"]
    assert read["resultType"] == "complete"
    assert isinstance(read["ttlMs"], int) and read["ttlMs"] >= 0
    assert read["cacheScope"] in ("public", "private")


def test_a_modern_tool_call_result_has_result_type_complete(api: Api, endpoint: str) -> None:
    called = result(modern(api, "tools/call", {"name": "weather", "arguments": {"city": "Oslo"}}, path=endpoint))
    assert called["resultType"] == "complete"
    assert called.get("isError", False) is False
    assert "/weather/Oslo" in json.dumps(called["content"])


# -- transport checks ------------------------------------------------------------------------------


@pytest.mark.parametrize("accept", ["application/json", "text/event-stream"])
def test_a_post_not_accepting_both_json_and_event_stream_gets_406(api: Api, endpoint: str, accept: str) -> None:
    response = post(api, endpoint, initialize_body(LATEST_LEGACY), {"Accept": accept})
    assert response.status_code == 406
    assert "Mcp-Session-Id" not in response.headers
    assert modern(api, "tools/list", path=endpoint, headers={"Accept": accept}).status_code == 406


def test_a_content_type_other_than_json_gets_415(api: Api, endpoint: str) -> None:
    response = post(api, endpoint, initialize_body(LATEST_LEGACY), {"Content-Type": "text/plain"})
    assert response.status_code == 415
    assert "Mcp-Session-Id" not in response.headers
    with_charset = post(
        api, endpoint, initialize_body(LATEST_LEGACY), {"Content-Type": "application/json; charset=utf-8"}
    )
    assert result(with_charset, request_id=0)["protocolVersion"] == LATEST_LEGACY


def test_a_foreign_origin_gets_403(api: Api, endpoint: str) -> None:
    response = post(api, endpoint, initialize_body(LATEST_LEGACY), {"Origin": "http://evil.example"})
    assert response.status_code == 403
    assert "Mcp-Session-Id" not in response.headers


@pytest.mark.parametrize("origin", ["null", "http://[::1", "http://localhost.evil.example"])
def test_a_malformed_or_look_alike_origin_gets_403(api: Api, origin: str) -> None:
    response = post(api, "/mcp", initialize_body(LATEST_LEGACY), {"Origin": origin})
    assert response.status_code == 403


@pytest.mark.parametrize("origin", ["http://localhost:6274", "http://127.0.0.1:3000", "http://[::1]:6274"])
def test_a_loopback_origin_is_accepted(api: Api, origin: str) -> None:
    response = post(api, "/mcp", initialize_body(LATEST_LEGACY), {"Origin": origin})
    assert result(response, request_id=0)["protocolVersion"] == LATEST_LEGACY


# -- auth and protected resource metadata ----------------------------------------------------------


def test_no_token_gets_401_with_a_challenge_naming_the_resource_metadata(api: Api, endpoint: str) -> None:
    response = api.http.post(
        endpoint, json=initialize_body(LATEST_LEGACY), headers={"Accept": ACCEPT, "Content-Type": "application/json"}
    )
    assert response.status_code == 401
    metadata_url = challenge(response)["resource_metadata"]
    metadata = api.http.get(urlsplit(metadata_url).path)
    assert metadata.status_code == 200
    assert urlsplit(metadata.json()["resource"]).path == endpoint


def test_a_token_in_the_query_string_is_refused(api: Api, endpoint: str) -> None:
    response = api.http.post(
        f"{endpoint}?access_token={api.token}",
        json=initialize_body(LATEST_LEGACY),
        headers={"Accept": ACCEPT, "Content-Type": "application/json"},
    )
    assert response.status_code in (400, 401)
    assert "Mcp-Session-Id" not in response.headers
    assert "result" not in response.text


@pytest.mark.parametrize("where", ["tenant", "other-server"])
def test_a_token_limited_to_a_virtual_server_gets_403_insufficient_scope_elsewhere(
    api: Api, catalog: Catalog, where: str
) -> None:
    scoped = issue_token(api, "default", "client", [catalog.server_id])["token"]
    other = write(api, "POST", "/v1/tenants/default/servers", {"name": "other", "tool_ids": [catalog.weather_id]})
    path = "/mcp" if where == "tenant" else f"/servers/{other['id']}/mcp"
    response = post(api, path, initialize_body(LATEST_LEGACY), token=scoped)
    assert response.status_code == 403
    assert challenge(response)["error"] == "insufficient_scope"
    assert response.json()["error"]["code"] not in MODERN_ERROR_CODES
    assert modern(api, "tools/list", path=path, token=scoped).status_code == 403


def test_a_token_limited_to_a_virtual_server_works_on_it(api: Api, catalog: Catalog) -> None:
    scoped = issue_token(api, "default", "client", [catalog.server_id])["token"]
    session = initialize(api, catalog.server_path, token=scoped)
    listed = post(api, session.path, request("tools/list"), session.headers, token=scoped)
    assert names(result(listed)) == ["weather"]
    assert names(result(modern(api, "tools/list", path=catalog.server_path, token=scoped))) == ["weather"]


def test_a_revoked_token_gets_401(api: Api, endpoint: str) -> None:
    issued = issue_token(api, "default", "client")
    assert result(modern(api, "tools/list", path=endpoint, token=issued["token"]))["tools"]
    write(api, "DELETE", f"/v1/tenants/default/tokens/{issued['id']}")
    response = modern(api, "tools/list", path=endpoint, token=issued["token"])
    assert response.status_code == 401
    assert challenge(response)["error"] == "invalid_token"


def test_a_token_of_one_tenant_cannot_reach_another_tenants_server(api: Api, catalog: Catalog) -> None:
    write(api, "POST", "/v1/tenants", {"name": "acme"})
    acme = issue_token(api, "acme", "admin")["token"]
    for token in (acme, issue_token(api, "acme", "client")["token"]):
        assert post(api, catalog.server_path, initialize_body(LATEST_LEGACY), token=token).status_code in (403, 404)
        assert modern(api, "tools/list", path=catalog.server_path, token=token).status_code in (403, 404)
    acme_server = write(api, "POST", "/v1/tenants/acme/servers", {"name": "acme-server"})
    response = modern(api, "tools/list", path=f"/servers/{acme_server['id']}/mcp")  # the default tenant's token
    assert response.status_code in (403, 404)


@pytest.mark.parametrize(
    "path", ["/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp", "server"]
)
def test_protected_resource_metadata_names_the_resource_and_no_authorization_server_that_does_not_exist(
    api: Api, catalog: Catalog, path: str
) -> None:
    if path == "server":
        path = "/.well-known/oauth-protected-resource" + catalog.server_path
    response = api.http.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    metadata = response.json()
    assert urlsplit(metadata["resource"]).scheme in ("http", "https")
    # no external issuer is configured, and the gateway itself runs no OAuth endpoints: none is advertised
    assert "authorization_servers" not in metadata
    for server_metadata in ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"):
        assert api.http.get(server_metadata).status_code == 404


# -- metrics ---------------------------------------------------------------------------------------


def test_metrics_count_mcp_requests(api: Api, session: Session) -> None:
    result(rpc(api, session, "tools/list"))
    assert api.http.get("/metrics").status_code == 401  # its series name every tenant's tools
    response = api.call("GET", "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    server = session.path.split("/")[2] if session.path.startswith("/servers/") else ""  # the virtual server's id
    assert f'ledgergate_mcp_requests_total{{method="tools/list",server="{server}",tenant="default"}}' in response.text


# -- streams, on a real server process -------------------------------------------------------------


@dataclass(frozen=True)
class Served:
    api: Api
    server_id: str


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    data: Path = tmp_path_factory.mktemp("mcp-streams") / "data"
    server = start_server(data)
    try:
        with httpx.Client(timeout=10) as http:
            api = Api(http=http, token=(data / "admin-token").read_text().strip(), base=server.url)
            created = api.call("POST", "/v1/tenants/default/servers", json={"name": "streams"})
            assert created.status_code == 201, created.text
            server_id = created.json()["id"]
            deadline = time.monotonic() + 10
            while modern(api, "server/discover", path=f"/servers/{server_id}/mcp").status_code == 404:
                assert time.monotonic() < deadline, "the new virtual server never reached the hot catalogs"
                time.sleep(0.05)
            yield Served(api, server_id)
    finally:
        server.stop()


def sse_events(lines: Iterator[str], deadline: float) -> Iterator[tuple[str, str]]:
    """(event, data) pairs of an SSE stream; comments are skipped."""
    event, data = "message", []
    for line in lines:
        assert time.monotonic() < deadline, "no SSE event in time"
        if line == "":
            if data:
                yield event, "\n".join(data)
            event, data = "message", []
        elif line.startswith("event:"):
            event = line.removeprefix("event:").strip()
        elif line.startswith("data:"):
            data.append(line.removeprefix("data:").removeprefix(" "))


@pytest.mark.slow
@pytest.mark.parametrize("where", ["tenant", "server"])
def test_get_with_a_session_opens_an_event_stream(served: Served, where: str) -> None:
    api = served.api
    path = "/mcp" if where == "tenant" else f"/servers/{served.server_id}/mcp"
    session = initialize(api, path)
    headers = {**api.headers(), "Accept": "text/event-stream", "Mcp-Session-Id": session.id}
    with api.http.stream("GET", api.base + path, headers=headers) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert next(stream.iter_lines()).startswith(":")


@pytest.mark.slow
@pytest.mark.parametrize("where", ["tenant", "server"])
def test_the_legacy_sse_stream_first_announces_its_message_endpoint(served: Served, where: str) -> None:
    api = served.api
    prefix = "" if where == "tenant" else f"/servers/{served.server_id}"
    with api.http.stream("GET", api.base + prefix + "/sse", headers=api.headers(Accept="text/event-stream")) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        event, data = next(sse_events(stream.iter_lines(), time.monotonic() + 10))
    assert event == "endpoint"
    assert data.startswith(prefix + "/message?session_id=")
    assert len(data.partition("session_id=")[2]) >= 16


@pytest.mark.slow
@pytest.mark.parametrize("where", ["tenant", "server"])
def test_an_initialize_posted_to_the_message_endpoint_gets_202_and_its_answer_on_the_stream(
    served: Served, where: str
) -> None:
    api = served.api
    prefix = "" if where == "tenant" else f"/servers/{served.server_id}"
    with api.http.stream("GET", api.base + prefix + "/sse", headers=api.headers(Accept="text/event-stream")) as stream:
        events = sse_events(stream.iter_lines(), time.monotonic() + 10)
        event, endpoint = next(events)
        assert event == "endpoint"
        posted = api.call("POST", endpoint, json=initialize_body("2024-11-05"))
        assert posted.status_code == 202
        assert posted.content == b""
        event, data = next(events)
        assert event == "message"
        answer = json.loads(data)
        assert (answer["id"], answer["result"]["protocolVersion"]) == (0, "2024-11-05")
        listed = api.call("POST", endpoint, json=request("tools/list", request_id="list"))
        assert listed.status_code == 202
        answer = json.loads(next(events)[1])
        assert answer["id"] == "list"
        assert isinstance(answer["result"]["tools"], list)


@pytest.mark.slow
def test_subscriptions_listen_acknowledges_first_then_streams_the_opted_in_list_changes(served: Served) -> None:
    api = served.api
    params = {"notifications": {"toolsListChanged": True}, "_meta": modern_meta()}
    headers = {**api.headers(), "Accept": ACCEPT, "MCP-Protocol-Version": MODERN, "Mcp-Method": "subscriptions/listen"}
    body = request("subscriptions/listen", params, request_id="sub-1")
    with api.http.stream("POST", api.base + "/mcp", headers=headers, json=body) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        events = sse_events(stream.iter_lines(), time.monotonic() + 10)
        acknowledged = json.loads(next(events)[1])
        assert acknowledged["method"] == "notifications/subscriptions/acknowledged"
        assert acknowledged["params"]["notifications"] == {"toolsListChanged": True}
        assert acknowledged["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"] == "sub-1"
        created = api.call("POST", "/v1/tenants/default/tools", json={**OUTSIDER, "name": "listened"})
        assert created.status_code == 201, created.text
        changed = json.loads(next(events)[1])
        assert changed["method"] == "notifications/tools/list_changed"
        assert changed["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"] == "sub-1"


def test_a_session_serves_only_the_token_that_began_it(api: Api, catalog: Catalog) -> None:
    other = issue_token(api, "default", "client")["token"]
    session = initialize(api, "/mcp")
    stolen = post(api, "/mcp", request("tools/list"), session.headers, token=other)
    assert stolen.status_code == 404
    assert rpc(api, session, "tools/list").status_code == 200
