"""Forwarding to an upstream that needs its clients: input mid-call (elicitation, sampling, roots), resource
subscriptions, completion, cancellation and timeouts, and its own credentials (bearer, OAuth client credentials).

The upstream is built with the SDK's resolvers: to a modern request it answers ``input_required``; in a
legacy session it sends the request mid-call. Clients are the official SDK client in both eras.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
import warnings
from collections.abc import Iterator
from typing import Any

import httpx
import httpx2
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError

from tests.e2e.test_upstreams import ROOT, Gateway, gateway  # noqa: F401 - the fixture
from tests.support.asking_upstream import running
from tests.support.token_issuer import issuing

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def asking_url() -> Iterator[str]:
    with running() as url:
        yield url


class Answers:
    """The client's side: what it answers, and what it was asked."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def elicit(self, context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        self.asked.append("elicitation/create")
        return types.ElicitResult(action="accept", content={"colour": "teal"})

    async def sample(self, context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        self.asked.append("sampling/createMessage")
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text="hello there"), model="test-model"
        )

    async def roots(self, context: Any) -> types.ListRootsResult:
        self.asked.append("roots/list")
        return types.ListRootsResult(roots=[types.Root(uri="file:///home/dev/project", name="project")])

    def client(self, target: Gateway, mode: str) -> Client:
        http = httpx2.AsyncClient(headers=target.headers, timeout=httpx2.Timeout(60))
        return Client(
            streamable_http_client(target.server.url + "/mcp", http_client=http),
            mode=mode,  # type: ignore[arg-type]
            elicitation_callback=self.elicit,
            sampling_callback=self.sample,
            list_roots_callback=self.roots,
        )


def call_all(client: Client) -> list[str]:
    async def run() -> list[str]:
        async with client as session:
            texts = []
            for tool in ("ask__favourite", "ask__greeting", "ask__roots"):
                result = await session.call_tool(tool, {})
                assert not result.is_error, result
                texts.append(result.content[0].text)  # type: ignore[union-attr]
            return texts

    return asyncio.run(run())


EXPECTED = ["you like teal", "the model said: hello there", "roots: file:///home/dev/project"]
ASKED = ["elicitation/create", "sampling/createMessage", "roots/list"]


@pytest.mark.parametrize(
    ("session_mode", "client_mode"),
    [
        ("shared", "legacy"),  # the upstream answers input_required; the gateway asks the legacy client
        ("per_client", "legacy"),  # a legacy upstream session asks mid-call; the gateway relays the request
        ("shared", "2026-07-28"),  # input_required passes through to the modern client, and its retry back
    ],
)
def test_an_upstream_tool_asks_the_client_through_the_gateway(
    gateway: Gateway,  # noqa: F811 - the fixture
    asking_url: str,
    session_mode: str,
    client_mode: str,
) -> None:
    written = gateway.register(
        {"name": "ask", "transport": "streamable_http", "url": asking_url, "session_mode": session_mode}
    )
    gateway.wait(written["position"])
    answers = Answers()
    assert call_all(answers.client(gateway, client_mode)) == EXPECTED
    assert answers.asked == ASKED


@pytest.mark.parametrize(
    ("transport", "session_mode"), [("stdio", "shared"), ("stdio", "per_client"), ("sse", "shared")]
)
def test_a_stdio_or_sse_upstream_asks_a_legacy_client_through_the_gateway(
    gateway: Gateway,  # noqa: F811 - the fixture
    transport: str,
    session_mode: str,
) -> None:
    """The SDK client holds these upstream sessions (stdio: modern, SSE: legacy, its requests arriving on the
    session's reader); what the upstream asks reaches the client of the one call in flight."""
    with contextlib.ExitStack() as stack:
        if transport == "stdio":
            where = {"command": sys.executable, "args": ["-m", "tests.support.asking_upstream", "stdio"]}
            where["cwd"] = str(ROOT)
        else:
            where = {"url": stack.enter_context(running("sse"))}
        written = gateway.register({"name": "ask", "transport": transport, **where, "session_mode": session_mode})
        gateway.wait(written["position"])
        answers = Answers()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MCPDeprecationWarning)
            assert call_all(answers.client(gateway, "legacy")) == EXPECTED
        assert answers.asked == ASKED


def test_a_legacy_client_that_declared_nothing_gets_the_upstreams_error_and_is_never_asked(
    gateway: Gateway,  # noqa: F811 - the fixture
    asking_url: str,
) -> None:
    """The upstream refuses the call with a JSON-RPC error: the client gets that error, as it would directly."""
    written = gateway.register({"name": "ask", "transport": "streamable_http", "url": asking_url})
    gateway.wait(written["position"])

    async def run() -> Any:
        async with gateway.client() as session:
            try:
                return await session.call_tool("ask__favourite", {})
            except MCPError as exc:
                return exc

    refused = asyncio.run(run())
    assert isinstance(refused, MCPError), refused
    assert "elicitation" in refused.error.message


def post_on_board(target: Gateway, text: str) -> None:
    async def run() -> None:
        async with target.client() as session:
            result = await session.call_tool("ask__post", {"text": text})
            assert not result.is_error, result

    asyncio.run(run())


def test_a_legacy_client_subscribed_to_an_upstream_resource_is_told_of_its_updates_until_it_unsubscribes(
    gateway: Gateway,  # noqa: F811 - the fixture
    asking_url: str,
) -> None:
    written = gateway.register({"name": "ask", "transport": "streamable_http", "url": asking_url})
    gateway.wait(written["position"])
    updates: list[str] = []
    told = asyncio.Event()

    async def on_message(message: Any) -> None:
        root = getattr(message, "root", message)
        if getattr(root, "method", None) == "notifications/resources/updated":
            updates.append(str(root.params.uri))
            told.set()

    async def run() -> tuple[str, str]:
        client = gateway.client()
        client.message_handler = on_message
        async with client as session:
            assert session.server_capabilities.resources.subscribe
            uri = next(str(r.uri) for r in (await session.list_resources()).resources if "board" in str(r.uri))
            with warnings.catch_warnings():  # legacy-era methods, which this test is about
                warnings.simplefilter("ignore", MCPDeprecationWarning)
                await session.subscribe_resource(uri)
                await asyncio.to_thread(post_on_board, gateway, "first")
                await asyncio.wait_for(told.wait(), 10)
                text = (await session.read_resource(uri)).contents[0].text  # type: ignore[union-attr]
                await session.unsubscribe_resource(uri)
            await asyncio.to_thread(post_on_board, gateway, "second")
            await asyncio.sleep(1.0)
            return uri, text

    uri, text = asyncio.run(run())
    assert (updates, text) == ([uri], "first")


def test_a_modern_client_names_upstream_resources_in_subscriptions_listen_and_gets_their_updates(
    gateway: Gateway,  # noqa: F811 - the fixture
    asking_url: str,
) -> None:
    written = gateway.register({"name": "ask", "transport": "streamable_http", "url": asking_url})
    gateway.wait(written["position"])
    uri = next(r["uri"] for r in gateway.call("GET", "/resources").json()["items"] if "board" in r["uri"])
    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    body = {
        "jsonrpc": "2.0",
        "id": "listen-1",
        "method": "subscriptions/listen",
        "params": {"notifications": {"resourceSubscriptions": [uri, "memo://nowhere"]}, "_meta": meta},
    }
    headers = gateway.headers | {
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2026-07-28",
        "Mcp-Method": "subscriptions/listen",
    }
    with (
        httpx.Client(timeout=10) as http,
        http.stream("POST", gateway.server.url + "/mcp", json=body, headers=headers) as stream,
    ):
        assert stream.status_code == 200
        messages = (json.loads(line[5:]) for line in stream.iter_lines() if line.startswith("data:"))
        acknowledged = next(messages)
        assert acknowledged["params"]["notifications"] == {"resourceSubscriptions": [uri]}
        post_on_board(gateway, "hello")
        updated = next(messages)
        assert updated["method"] == "notifications/resources/updated"
        assert updated["params"]["uri"] == uri
        assert updated["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"] == "listen-1"


@pytest.mark.parametrize("transport", ["streamable_http", "stdio"])
def test_completion_of_a_discovered_prompt_argument_is_answered_by_its_upstream(
    gateway: Gateway,  # noqa: F811 - the fixture
    asking_url: str,
    transport: str,
) -> None:
    stdio = {"command": sys.executable, "args": ["-m", "tests.support.asking_upstream", "stdio"], "cwd": str(ROOT)}
    where = {"url": asking_url} if transport == "streamable_http" else stdio
    written = gateway.register({"name": "ask", "transport": transport, **where})
    gateway.wait(written["position"])

    async def run() -> list[str]:
        async with gateway.client() as session:
            ref = types.PromptReference(type="ref/prompt", name="ask__greet")
            return (await session.complete(ref, {"name": "language", "value": "e"})).completion.values

    assert asyncio.run(run()) == ["english", "esperanto"]


async def cancellations(session: Any, at_least: int) -> str:
    deadline = time.monotonic() + 10
    while True:
        seen = (await session.call_tool("ask__cancellations", {})).content[0].text
        if int(seen) >= at_least or time.monotonic() > deadline:
            return str(seen)
        await asyncio.sleep(0.1)


def test_an_upstream_call_past_its_timeout_is_an_error_result_and_is_cancelled_upstream(
    gateway: Gateway,  # noqa: F811 - the fixture
    asking_url: str,
) -> None:
    written = gateway.register({"name": "ask", "transport": "streamable_http", "url": asking_url, "timeout_s": 1})
    gateway.wait(written["position"])

    async def run() -> tuple[Any, float, str]:
        async with gateway.client() as session:
            before = int((await session.call_tool("ask__cancellations", {})).content[0].text)
            started = time.monotonic()
            result = await session.call_tool("ask__sleepy", {"seconds": 30})
            return result, time.monotonic() - started, await cancellations(session, before + 1)

    result, took, cancelled = asyncio.run(run())
    assert result.is_error
    assert "did not answer within 1 s" in result.content[0].text
    assert took < 5
    assert int(cancelled) >= 1


@pytest.mark.parametrize("session_mode", ["shared", "per_client"])  # modern and legacy upstream sessions
def test_a_client_that_cancels_a_call_cancels_it_upstream(
    gateway: Gateway,  # noqa: F811 - the fixture
    asking_url: str,
    session_mode: str,
) -> None:
    written = gateway.register(
        {"name": "ask", "transport": "streamable_http", "url": asking_url, "session_mode": session_mode}
    )
    gateway.wait(written["position"])

    async def run() -> tuple[int, str]:
        async with gateway.client() as session:
            before = int((await session.call_tool("ask__cancellations", {})).content[0].text)
            call = asyncio.create_task(session.call_tool("ask__sleepy", {"seconds": 30}))
            await asyncio.sleep(1.0)
            call.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await call
            return before, await cancellations(session, before + 1)

    before, after = asyncio.run(run())
    assert int(after) == before + 1


def test_the_upstream_sees_its_own_credentials_never_the_clients_token(
    gateway: Gateway,  # noqa: F811 - the fixture
    asking_url: str,
) -> None:
    upstream = {"name": "ask", "transport": "streamable_http", "url": asking_url}
    written = gateway.register(upstream | {"auth": {"type": "bearer", "token": "upstream-secret"}})
    gateway.wait(written["position"])

    async def run() -> str:
        async with gateway.client() as session:
            return str((await session.call_tool("ask__authorization", {})).content[0].text)

    seen = asyncio.run(run())
    assert seen == "Bearer upstream-secret"
    assert gateway.token not in seen


@pytest.fixture
def token_endpoint() -> Iterator[tuple[str, list[dict[str, str]]]]:
    """An OAuth 2.0 token endpoint for the client credentials grant of client ``gw`` / ``s3cret``."""
    with issuing("gw", "s3cret") as issuer:
        yield issuer.url, issuer.grants


def test_an_upstream_behind_oauth_client_credentials_gets_a_token_from_its_issuer(
    gateway: Gateway,  # noqa: F811 - the fixture
    asking_url: str,
    token_endpoint: tuple[str, list[dict[str, str]]],
) -> None:
    token_url, grants = token_endpoint
    auth = {
        "type": "oauth_client_credentials",
        "token_url": token_url,
        "client_id": "gw",
        "client_secret": "s3cret",
        "scope": "tools",
    }
    written = gateway.register({"name": "ask", "transport": "streamable_http", "url": asking_url, "auth": auth})
    gateway.wait(written["position"])
    assert gateway.call("GET", f"/upstreams/{written['id']}").json()["auth"]["client_secret"] == "********"

    async def run() -> list[str]:
        async with gateway.client() as session:
            return [str((await session.call_tool("ask__authorization", {})).content[0].text) for _ in range(2)]

    seen = asyncio.run(run())
    assert seen == ["Bearer issued-1"] * 2
    # the supervisor probes the upstream and holds a list_changed watch on it: both take the kept token
    deadline = time.monotonic() + 20
    while (gateway.call("GET", f"/upstreams/{written['id']}").json().get("health") or {}).get("state") != "healthy":
        assert time.monotonic() < deadline, "the upstream was never probed"
        time.sleep(0.1)
    # a new version of the upstream with the same connection settings (as a health event makes) keeps the token
    changed = gateway.call("PATCH", f"/upstreams/{written['id']}", json={"description": "renamed in a note"})
    assert changed.status_code == 200, changed.text
    gateway.wait(changed.json()["position"])
    assert asyncio.run(run()) == seen
    assert len(grants) == 1  # discovery, the probe, the watch and every call: one token
    assert grants[-1] == {
        "grant_type": "client_credentials",
        "client_id": "gw",
        "client_secret": "s3cret",
        "scope": "tools",
    }
