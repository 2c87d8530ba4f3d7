"""Nothing is lost through the gateway: the conformance fixture upstream over streamable HTTP, reached through
a gateway process by the official SDK client and by raw HTTP, in both eras.

Each test holds one thing an MCP client must get from an upstream through the gateway: being asked mid-call
(legacy elicitation and sampling), log notifications, resource templates, and the 2026-07-28 rules that
concern an upstream's answers (client capabilities, ``input_required`` on prompts, a sealed ``requestState``).
"""

from __future__ import annotations

import asyncio
import json
import warnings
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CreateMessageResult, ElicitResult, ListRootsResult, Root, TextContent

from conformance import stack
from tests.support.mcp_http import ACCEPT, MODERN

pytestmark = pytest.mark.slow


class Through:
    def __init__(self, gateway: stack.Gateway, published: stack.Published) -> None:
        self.gateway = gateway
        self.published = published
        self.url = f"{gateway.url}/servers/{published.server_id}/mcp"

    def client(self, mode: str, **kwargs: Any) -> Client:
        http = httpx2.AsyncClient(
            headers={"Authorization": f"Bearer {self.published.token}"}, timeout=httpx2.Timeout(60)
        )
        return Client(streamable_http_client(self.url, http_client=http), mode=mode, **kwargs)

    def modern(
        self, method: str, params: dict[str, Any], capabilities: dict[str, Any] | None = None, name: str = ""
    ) -> httpx.Response:
        meta = {
            "io.modelcontextprotocol/protocolVersion": MODERN,
            "io.modelcontextprotocol/clientCapabilities": capabilities or {},
        }
        body = {"jsonrpc": "2.0", "id": 7, "method": method, "params": {**params, "_meta": meta}}
        headers = {
            "Authorization": f"Bearer {self.published.token}",
            "Accept": ACCEPT,
            "Content-Type": "application/json",
            "MCP-Protocol-Version": MODERN,
            "Mcp-Method": method,
        } | ({"Mcp-Name": name} if name else {})
        return httpx.post(self.url, json=body, headers=headers, timeout=30)


@pytest.fixture(scope="module")
def gateways(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], Through]]:
    """The fixture over one transport, published through one gateway process (each started on first use)."""
    workdir = tmp_path_factory.mktemp("fidelity")
    with ExitStack() as exits:
        gateway = stack.start_gateway(workdir, "gateway")
        exits.callback(gateway.process.stop)
        made: dict[str, Through] = {}

        def through(transport: str) -> Through:
            if transport not in made:
                if transport == "stdio":
                    upstream = {"transport": "stdio", **stack.fixture_stdio_command()}
                else:
                    fixture, url = stack.start_fixture(transport, workdir)
                    exits.callback(fixture.stop)
                    upstream = {"transport": "streamable_http" if transport == "http" else "sse", "url": url}
                made[transport] = Through(gateway, stack.publish(gateway, f"fidelity-{transport}", upstream))
            return made[transport]

        yield through


@pytest.fixture(params=["http", "sse", "stdio"])
def through(request: pytest.FixtureRequest, gateways: Callable[[str], Through]) -> Through:
    """Every upstream transport."""
    return gateways(request.param)


def _text(result: Any) -> str:
    return " ".join(c.text for c in result.content if isinstance(c, TextContent))


def _json_or_event(response: httpx.Response) -> dict[str, Any]:
    """The JSON-RPC response of a POST, whether it came as JSON or as the last event of a stream."""
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        messages = [json.loads(line[5:]) for line in response.text.splitlines() if line.startswith("data:")]
        return [m for m in messages if "id" in m and ("result" in m or "error" in m)][-1]  # type: ignore[no-any-return]
    return response.json()  # type: ignore[no-any-return]


def test_a_legacy_client_is_asked_for_elicitation_and_sampling_by_an_upstream_tool(through: Through) -> None:
    asked: list[str] = []

    async def elicit(context: Any, params: Any) -> ElicitResult:
        asked.append(params.message)
        return ElicitResult(action="accept", content={"response": "ada"})

    async def sample(context: Any, params: Any) -> CreateMessageResult:
        asked.append("sampling")
        return CreateMessageResult(role="assistant", content=TextContent(type="text", text="Paris"), model="m")

    async def run() -> tuple[str, str]:
        async with through.client("legacy", elicitation_callback=elicit, sampling_callback=sample) as client:
            elicited = await client.call_tool("test_elicitation", {"message": "Who are you?"})
            sampled = await client.call_tool("test_sampling", {"prompt": "Capital of France?"})
            return _text(elicited), _text(sampled)

    elicited, sampled = asyncio.run(run())
    assert "action=accept" in elicited and "ada" in elicited, elicited
    assert sampled == "LLM response: Paris"
    assert asked == ["Who are you?", "sampling"]


async def _set_level(client: Client, level: str) -> None:
    with warnings.catch_warnings():  # logging/setLevel is deprecated in 2026-07-28, not in a legacy session
        warnings.simplefilter("ignore")
        await client.set_logging_level(level)  # type: ignore[arg-type]


def test_log_notifications_of_an_upstream_call_reach_the_client_at_its_level(through: Through) -> None:
    async def run(mode: str, **kwargs: Any) -> list[str]:
        seen: list[str] = []

        async def log(params: Any) -> None:
            seen.append(str(params.data))

        async with through.client(mode, logging_callback=log, **kwargs) as client:
            if mode == "legacy":
                await _set_level(client, "debug")
            await client.call_tool("test_tool_with_logging", {})
        return seen

    expected = ["Tool execution started", "Tool processing data", "Tool execution completed"]
    assert asyncio.run(run("legacy")) == expected
    assert asyncio.run(run(MODERN, log_level="info")) == expected
    assert asyncio.run(run(MODERN)) == []  # no logLevel in _meta: no log messages

    async def quiet() -> list[str]:
        seen: list[str] = []

        async def log(params: Any) -> None:
            seen.append(str(params.data))

        async with through.client("legacy", logging_callback=log) as client:
            await _set_level(client, "error")  # the upstream logs at info: filtered out
            await client.call_tool("test_tool_with_logging", {})
        return seen

    assert asyncio.run(quiet()) == []


@pytest.mark.parametrize("mode", ["legacy", MODERN])
def test_resource_templates_of_an_upstream_are_listed_and_read_through_it(through: Through, mode: str) -> None:
    async def run() -> tuple[list[str], str]:
        async with through.client(mode) as client:
            templates = await client.list_resource_templates()
            read = await client.read_resource("test://template/4711/data")
            return [t.uri_template for t in templates.resource_templates], read.contents[0].text  # type: ignore[union-attr]

    templates, text = asyncio.run(run())
    assert "test://template/{id}/data" in templates
    assert '"id": "4711"' in text and "Data for ID: 4711" in text


def test_a_modern_call_needing_an_undeclared_capability_is_the_upstreams_32021_with_http_400(
    through: Through,
) -> None:
    refused = through.modern(
        "tools/call", {"name": "test_missing_capability", "arguments": {}}, name="test_missing_capability"
    )
    assert refused.status_code == 400, refused.text
    error = _json_or_event(refused)["error"]
    assert error["code"] == -32021
    assert error["data"]["requiredCapabilities"] == {"sampling": {}}
    allowed = through.modern(
        "tools/call",
        {"name": "test_missing_capability", "arguments": {}},
        {"sampling": {}},
        name="test_missing_capability",
    )
    assert allowed.status_code == 200
    assert "proceeding" in _json_or_event(allowed)["result"]["content"][0]["text"]


def test_initialize_sent_as_a_modern_request_is_404_method_not_found(through: Through) -> None:
    response = through.modern("initialize", {})
    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == -32601
    assert response.json()["id"] == 7


def test_input_required_of_an_upstream_prompt_reaches_a_modern_client_and_its_retry_completes(
    through: Through,
) -> None:
    caps = {"elicitation": {}}
    first = through.modern(
        "prompts/get", {"name": "test_input_required_result_prompt"}, caps, "test_input_required_result_prompt"
    )
    result = _json_or_event(first)["result"]
    assert result["resultType"] == "input_required", result
    assert result["inputRequests"]["user_context"]["method"] == "elicitation/create"
    answer = {"action": "accept", "content": {"context": "ledgers"}}
    retry = {"name": "test_input_required_result_prompt", "inputResponses": {"user_context": answer}}
    if "requestState" in result:
        retry["requestState"] = result["requestState"]
    done = _json_or_event(through.modern("prompts/get", retry, caps, "test_input_required_result_prompt"))["result"]
    assert done["resultType"] == "complete"
    assert done["messages"][0]["content"]["text"] == "Use the following context: ledgers"


def test_a_tampered_request_state_is_refused_with_the_upstreams_error(through: Through) -> None:
    """Over HTTP+SSE the state is the gateway's own (the upstream has none): it refuses with -32602."""
    name = "test_input_required_result_tampered_state"
    caps = {"elicitation": {}}
    first = _json_or_event(through.modern("tools/call", {"name": name, "arguments": {}}, caps, name))["result"]
    assert first["resultType"] == "input_required"
    state = first["requestState"]
    tampered = state[:-4] + ("AAAA" if not state.endswith("AAAA") else "BBBB")
    responses = {"confirm": {"action": "accept", "content": {"confirmed": True}}}
    params = {"name": name, "arguments": {}, "inputResponses": responses, "requestState": tampered}
    refused = through.modern("tools/call", params, caps, name)
    reply = _json_or_event(refused)
    assert "error" in reply, reply
    assert refused.status_code >= 400
    if through.published.tenant.endswith("sse"):
        assert state.startswith("lg1.") and reply["error"]["code"] == -32602
    honest = {**params, "requestState": state}
    assert _json_or_event(through.modern("tools/call", honest, caps, name))["result"]["resultType"] == "complete"


# -- a 2026-07-28 client and an upstream that speaks only the legacy handshake (HTTP+SSE) ------------------


async def _answer_elicitation(context: Any, params: Any) -> ElicitResult:
    if "color" in params.message:
        return ElicitResult(action="accept", content={"color": "blue"})
    if "name" in params.message:
        return ElicitResult(action="accept", content={"name": "Alice"})
    return ElicitResult(action="accept", content={"response": "ada"})


async def _answer_sampling(context: Any, params: Any) -> CreateMessageResult:
    return CreateMessageResult(role="assistant", content=TextContent(type="text", text="Paris"), model="m")


async def _answer_roots(context: Any) -> ListRootsResult:
    return ListRootsResult(roots=[Root(uri="file:///ledgers")])  # type: ignore[arg-type]


def test_a_modern_sdk_client_is_asked_through_input_required_by_a_legacy_only_upstream(
    gateways: Callable[[str], Through],
) -> None:
    """The upstream's mid-call requests reach the client as input_required rounds; its retries complete."""
    through = gateways("sse")

    async def run() -> list[str]:
        callbacks = {
            "elicitation_callback": _answer_elicitation,
            "sampling_callback": _answer_sampling,
            "list_roots_callback": _answer_roots,
        }
        async with through.client(MODERN, **callbacks) as client:
            calls = [
                ("test_input_required_result_multi_round", {}),  # two rounds, one request each
                ("test_input_required_result_multiple_inputs", {}),  # three requests in one round
                ("test_elicitation", {"message": "Who are you?"}),  # a legacy tool asking with ctx.elicit
                ("test_sampling", {"prompt": "Capital of France?"}),
            ]
            return [_text(await client.call_tool(name, arguments)) for name, arguments in calls]

    multi_round, multiple, elicited, sampled = asyncio.run(run())
    assert multi_round == "Alice likes blue."
    assert multiple == "All inputs received."
    assert "action=accept" in elicited and "ada" in elicited, elicited
    assert sampled == "LLM response: Paris"


def _round_trip(first_url: str, retry_url: str, token: str, retry_token: str | None = None) -> tuple[Any, Any]:
    """A raw 2026-07-28 ``tools/call`` that needs a confirmation, and its retry (to ``retry_url``)."""
    name = "test_input_required_result_request_state"

    def post(url: str, params: dict[str, Any], bearer: str) -> dict[str, Any]:
        meta = {
            "io.modelcontextprotocol/protocolVersion": MODERN,
            "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}},
        }
        body = {"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {**params, "_meta": meta}}
        headers = {"Authorization": f"Bearer {bearer}", "Accept": ACCEPT, "MCP-Protocol-Version": MODERN}
        headers |= {"Mcp-Method": "tools/call", "Mcp-Name": name}
        return _json_or_event(httpx.post(url, json=body, headers=headers, timeout=30))

    first = post(first_url, {"name": name, "arguments": {}}, token)["result"]
    assert first["resultType"] == "input_required", first
    answers = {key: {"action": "accept", "content": {"confirmed": True}} for key in first["inputRequests"]}
    retry = {"name": name, "arguments": {}, "inputResponses": answers, "requestState": first["requestState"]}
    return first, post(retry_url, retry, retry_token or token)


def test_a_sealed_request_state_is_bound_to_its_caller_and_used_once(gateways: Callable[[str], Through]) -> None:
    through = gateways("sse")
    other = through.gateway.api(
        "POST", f"/tenants/{through.published.tenant}/tokens", {"name": "another-client", "role": "client"}
    )["token"]
    first, stolen = _round_trip(through.url, through.url, through.published.token, other)
    assert first["requestState"].startswith("lg1.")
    assert stolen["error"]["code"] == -32602, stolen  # another token cannot resume the call
    first, done = _round_trip(through.url, through.url, through.published.token)
    assert done["result"]["content"][0]["text"] == "state-ok: confirmation received", done
    again = {"requestState": first["requestState"], "inputResponses": {"confirm": {"action": "accept"}}}
    meta = {"io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {}}
    replay = through.modern(
        "tools/call",
        {"name": "test_input_required_result_request_state", "arguments": {}, **again, "_meta": meta},
        name="test_input_required_result_request_state",
    )
    assert _json_or_event(replay)["error"]["code"] == -32602  # the call completed: its state is spent


def test_a_retry_reaching_another_gateway_process_resumes_the_held_call(tmp_path: Any, redis_url: str) -> None:
    """Two processes of one instance (one data directory, one database, Redis): the call is held by the
    first, the retry reaches the second, which routes it to the holder."""
    fixture, url = stack.start_fixture("sse", tmp_path)
    with ExitStack() as exits:
        exits.callback(fixture.stop)
        env = {"LEDGERGATE_REDIS_URL": redis_url}
        first = stack.start_gateway(tmp_path, "holder", env=env)
        exits.callback(first.process.stop)
        published = stack.publish(first, "held-sse", {"transport": "sse", "url": url})
        (tmp_path / "other-data").symlink_to(tmp_path / "holder-data")  # one instance: its keys, its database
        second = stack.start_gateway(tmp_path, "other", env=env)
        exits.callback(second.process.stop)
        path = f"/servers/{published.server_id}/mcp"
        stack.wait_until(
            lambda: stack._lists(1, second.url + path, published.token), second.process, "the second process"
        )
        for _ in range(2):
            _, done = _round_trip(first.url + path, second.url + path, published.token)
            assert done["result"]["content"][0]["text"] == "state-ok: confirmation received", done


def test_one_stdio_process_serves_modern_clients_of_every_capability_set(gateways: Callable[[str], Through]) -> None:
    """Capabilities are declared per request on the one modern connection: a new set starts no process."""
    through = gateways("stdio")
    pids = set()
    for caps in ({}, {"elicitation": {}}, {"sampling": {}}, {"sampling": {}, "elicitation": {}, "roots": {}}):
        reply = through.modern(
            "tools/call", {"name": "fixture_process_id", "arguments": {}}, caps, "fixture_process_id"
        )
        pids.add(_json_or_event(reply)["result"]["content"][0]["text"])
    assert len(pids) == 1, pids


def test_mcp_param_headers_of_x_mcp_header_tools_are_checked_against_the_arguments(through: Through) -> None:
    """SEP-2243: the gateway, as the client's server, refuses a missing or different ``Mcp-Param-*``."""

    def call(header: str | None) -> httpx.Response:
        meta = {"io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {}}
        params = {"name": "test_x_mcp_header", "arguments": {"region": "Hello"}, "_meta": meta}
        body = {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": params}
        headers = {
            "Authorization": f"Bearer {through.published.token}",
            "Accept": ACCEPT,
            "MCP-Protocol-Version": MODERN,
        }
        headers |= {"Mcp-Method": "tools/call", "Mcp-Name": "test_x_mcp_header"}
        if header is not None:
            headers["Mcp-Param-Region"] = header
        return httpx.post(through.url, json=body, headers=headers, timeout=30)

    for refused in (None, "Elsewhere", "=?base64?SGVsbG8?="):  # missing, different, not valid base64
        response = call(refused)
        assert response.status_code == 400, (refused, response.text)
        assert _json_or_event(response)["error"]["code"] == -32020
    for accepted in ("Hello", "=?base64?SGVsbG8=?="):
        response = call(accepted)
        assert _json_or_event(response)["result"]["content"][0]["text"] == "region=Hello", response.text
