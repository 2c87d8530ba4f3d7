"""``ledgergate wrapper`` and ``ledgergate translate`` driven by the official SDK client.

The bridges relay JSON-RPC messages as they are, so everything a client and the gateway negotiate works
through them: the tests put the SDK client outside, a real gateway behind, and real upstreams behind that
(``tests.support.asking_upstream`` asks its clients and has a subscribable resource, a completable prompt and
a cancellable tool; ``tests.support.conformance_upstream`` logs and reports progress).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, TextIO

import httpx
import mcp_types as types
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError

from tests.api.conftest import free_port, start_server
from tests.e2e.test_upstreams import Gateway
from tests.support.asking_upstream import running

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
LEDGERGATE = [sys.executable, "-m", "ledgergate.api.cli"]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """A gateway holding the asking upstream (``ask__*``) over HTTP and the conformance fixture (``conf__*``)."""
    data = tmp_path_factory.mktemp("bridges") / "data"
    server = start_server(data)
    target = Gateway(server=server, token=(data / "admin-token").read_text().strip())
    try:
        with running() as asking_url:
            target.register({"name": "ask", "transport": "streamable_http", "url": asking_url})
            fixture = {"command": sys.executable, "args": ["-m", "tests.support.conformance_upstream", "stdio"]}
            written = target.register({"name": "conf", "transport": "stdio", "cwd": str(ROOT), **fixture})
            target.wait(written["position"])
            yield target
    finally:
        server.stop()


def wrapper(url: str, token: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable,
        cwd=str(ROOT),
        args=["-m", "ledgergate.api.cli", "wrapper", "--url", url, "--token", token],
    )


class Asked:
    """The client's side of sampling and elicitation, and what reached it."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.logs: list[str] = []
        self.notified: list[str] = []
        self.updated = asyncio.Event()

    async def elicit(self, context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        self.asked.append("elicitation/create")
        return types.ElicitResult(action="accept", content={"colour": "teal"})

    async def sample(self, context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        self.asked.append("sampling/createMessage")
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text="hello there"), model="test-model"
        )

    async def log(self, params: types.LoggingMessageNotificationParams) -> None:
        self.logs.append(str(params.data))

    async def message(self, message: Any) -> None:
        method = getattr(getattr(message, "root", message), "method", None)
        if isinstance(method, str):
            self.notified.append(method)
        if method == "notifications/resources/updated":
            self.updated.set()

    def client(self, transport: Any, mode: str = "legacy") -> Client:
        return Client(
            transport,
            mode=mode,  # type: ignore[arg-type]
            elicitation_callback=self.elicit,
            sampling_callback=self.sample,
            logging_callback=self.log,
            message_handler=self.message,
        )


def through_wrapper(gateway: Gateway, asked: Asked, mode: str = "legacy", path: str = "/mcp") -> Client:
    return asked.client(wrapper(gateway.server.url + path, gateway.token), mode)


@contextlib.contextmanager
def translate(command: str) -> Iterator[str]:
    """``ledgergate translate --stdio COMMAND`` on a free loopback port: its MCP URL."""
    port = free_port()
    process = subprocess.Popen(
        [*LEDGERGATE, "translate", "--stdio", command, "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, "translate did not start"
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_wrapper_serves_a_gateway_endpoint_over_stdio(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = start_server(data)
    token = (data / "admin-token").read_text().strip()
    try:
        created = httpx.post(
            server.url + "/v1/tenants/default/prompts",
            headers={"Authorization": f"Bearer {token}"},
            json={"name": "hello", "template": "Hello {{ who }}"},
        )
        httpx.get(
            f"{server.url}/v1/tenants/default/prompts?min_position={created.json()['position']}",
            headers={"Authorization": f"Bearer {token}"},
        )

        async def run() -> tuple[list[str], str]:
            async with Client(wrapper(server.url + "/mcp", token), mode="legacy") as session:
                prompts = await session.list_prompts()
                got = await session.get_prompt("hello", {"who": "stdio"})
                return [p.name for p in prompts.prompts], got.messages[0].content.text  # type: ignore[union-attr]

        names, text = asyncio.run(run())
        assert names == ["hello"]
        assert text == "Hello stdio"
    finally:
        server.stop()


def test_translate_serves_a_stdio_server_over_streamable_http() -> None:
    with translate(f"{sys.executable} -m tests.support.upstream_server stdio 0 bridged") as url:

        async def run() -> str:
            async with Client(url, mode="legacy") as session:
                return (await session.call_tool("whoami", {})).content[0].text  # type: ignore[union-attr]

        assert asyncio.run(run()) == "bridged"


def test_the_wrapper_advertises_what_the_gateway_advertises(gateway: Gateway) -> None:
    async def run() -> tuple[Any, Any]:
        async with gateway.client() as direct, through_wrapper(gateway, Asked()) as wrapped:
            return direct.server_capabilities, wrapped.server_capabilities

    direct, wrapped = asyncio.run(run())
    assert wrapped == direct
    assert wrapped.logging is not None and wrapped.completions is not None
    assert wrapped.resources.subscribe and wrapped.tools.list_changed


def test_through_the_wrapper_a_client_sets_its_log_level_and_gets_the_upstreams_log_messages(gateway: Gateway) -> None:
    asked = Asked()

    async def run() -> str:
        async with through_wrapper(gateway, asked) as session:
            with warnings.catch_warnings():  # logging/setLevel is a legacy-era method, which this test is about
                warnings.simplefilter("ignore", MCPDeprecationWarning)
                await session.set_logging_level("info")
            result = await session.call_tool("conf__test_tool_with_logging", {})
            return result.content[0].text  # type: ignore[union-attr]

    assert asyncio.run(run()) == "Tool with logging executed successfully"
    assert asked.logs == ["Tool execution started", "Tool processing data", "Tool execution completed"]


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
def test_progress_of_an_upstream_call_reaches_the_client_through_the_wrapper(gateway: Gateway, mode: str) -> None:
    seen: list[tuple[float, float | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total))

    async def run() -> None:
        async with through_wrapper(gateway, Asked(), mode) as session:
            await session.call_tool("conf__test_tool_with_progress", {}, progress_callback=on_progress)

    asyncio.run(run())
    assert seen == [(0, 100), (50, 100), (100, 100)]


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
def test_completion_through_the_wrapper_is_answered_by_the_upstream(gateway: Gateway, mode: str) -> None:
    async def run() -> list[str]:
        async with through_wrapper(gateway, Asked(), mode) as session:
            ref = types.PromptReference(type="ref/prompt", name="ask__greet")
            return (await session.complete(ref, {"name": "language", "value": "e"})).completion.values

    assert asyncio.run(run()) == ["english", "esperanto"]


def test_a_client_subscribed_through_the_wrapper_is_told_of_resource_updates(gateway: Gateway) -> None:
    asked = Asked()

    async def run() -> None:
        async with through_wrapper(gateway, asked) as session:
            uri = next(str(r.uri) for r in (await session.list_resources()).resources if "board" in str(r.uri))
            with warnings.catch_warnings():  # resources/subscribe is a legacy-era method, which this test is about
                warnings.simplefilter("ignore", MCPDeprecationWarning)
                await session.subscribe_resource(uri)
                async with gateway.client() as poster:
                    await poster.call_tool("ask__post", {"text": "through the wrapper"})
                await asyncio.wait_for(asked.updated.wait(), 15)
                await session.unsubscribe_resource(uri)

    asyncio.run(run())
    assert "notifications/resources/updated" in asked.notified


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])  # asked mid-call, and input_required with its retry
def test_sampling_and_elicitation_go_to_the_client_and_back_through_the_wrapper(gateway: Gateway, mode: str) -> None:
    asked = Asked()

    async def run() -> list[str]:
        async with through_wrapper(gateway, asked, mode) as session:
            texts = []
            for tool in ("ask__favourite", "ask__greeting"):
                result = await session.call_tool(tool, {})
                assert not result.is_error, result
                texts.append(result.content[0].text)  # type: ignore[union-attr]
            return texts

    assert asyncio.run(run()) == ["you like teal", "the model said: hello there"]
    assert asked.asked == ["elicitation/create", "sampling/createMessage"]


async def cancelled_calls(session: Any, more_than: int = -1) -> int:
    """How many calls of ``ask__sleepy`` were cancelled; waits (up to 15 s) for more than ``more_than``."""
    deadline = time.monotonic() + 15
    while True:
        seen = int((await session.call_tool("ask__cancellations", {})).content[0].text)
        if seen > more_than or time.monotonic() > deadline:
            return seen
        await asyncio.sleep(0.1)


async def ignore_progress(progress: float, total: float | None, message: str | None) -> None:
    return None


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
def test_a_call_cancelled_by_the_client_is_cancelled_upstream_through_the_wrapper(gateway: Gateway, mode: str) -> None:
    """Legacy: the client's ``notifications/cancelled`` is posted on. 2026-07-28: the wrapper closes the call's
    response stream, which the gateway takes as the cancellation of a streamed call (one with a progress token)."""

    async def run() -> tuple[int, int]:
        async with through_wrapper(gateway, Asked(), mode) as session:
            before = await cancelled_calls(session)
            sleeping = session.call_tool("ask__sleepy", {"seconds": 60}, progress_callback=ignore_progress)
            call = asyncio.create_task(sleeping)
            await asyncio.sleep(1.5)
            call.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await call
            return before, await cancelled_calls(session, more_than=before)

    before, after = asyncio.run(run())
    assert after == before + 1


@contextlib.asynccontextmanager
async def wrapper_with_stderr(url: str, token: str, stderr: TextIO) -> AsyncIterator[Any]:
    async with Client(stdio_client(wrapper(url, token), errlog=stderr), mode="legacy") as session:
        yield session


def first_mcp_error(exc: BaseException) -> BaseException:
    if isinstance(exc, BaseExceptionGroup):
        return next((first_mcp_error(inner) for inner in exc.exceptions), exc)
    return exc


def refusal(url: str, token: str) -> tuple[BaseException | None, str]:
    """What the client gets through a wrapper that cannot use the gateway, and what the wrapper said."""
    with tempfile.TemporaryFile("w+") as stderr:

        async def run() -> BaseException | None:
            try:
                async with wrapper_with_stderr(url, token, stderr) as session:
                    await session.list_tools()
            except Exception as exc:  # the SDK client raises the JSON-RPC error, in a group when initialize fails
                return first_mcp_error(exc)
            return None

        error = asyncio.run(run())
        stderr.seek(0)
        return error, stderr.read()


def test_a_bad_token_is_one_clear_message_and_a_json_rpc_error_never_a_traceback(gateway: Gateway) -> None:
    error, said = refusal(gateway.server.url + "/mcp", "not-a-token")
    assert isinstance(error, MCPError)
    assert "refused the token" in error.error.message
    assert "Traceback" not in said
    assert said.count("refused the token") == 1, said


def test_an_unreachable_gateway_is_one_clear_message_and_a_json_rpc_error_never_a_traceback() -> None:
    url = f"http://127.0.0.1:{free_port()}/mcp"  # nothing listens there
    error, said = refusal(url, "any")
    assert isinstance(error, MCPError)
    assert "cannot reach the gateway" in error.error.message
    assert "Traceback" not in said
    assert said.count("cannot reach the gateway") == 1, said


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
def test_translate_in_front_of_the_wrapper_relays_logs_progress_and_elicitation(gateway: Gateway, mode: str) -> None:
    command = " ".join([*LEDGERGATE, "wrapper", "--url", gateway.server.url + "/mcp", "--token", gateway.token])
    asked = Asked()
    seen: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(progress)

    async def run(url: str) -> list[str]:
        async with asked.client(url, mode) as session:
            if mode == "legacy":
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", MCPDeprecationWarning)
                    await session.set_logging_level("info")
            await session.call_tool("conf__test_tool_with_progress", {}, progress_callback=on_progress)
            result = await session.call_tool("ask__favourite", {})
            return [result.content[0].text]  # type: ignore[union-attr]

    with translate(command) as url:
        assert asyncio.run(run(url)) == ["you like teal"]
    assert seen == [0, 50, 100]
    assert asked.asked == ["elicitation/create"]


def test_the_wrapper_reads_its_token_from_the_environment(gateway: Gateway) -> None:
    params = StdioServerParameters(
        command=sys.executable,
        cwd=str(ROOT),
        args=["-m", "ledgergate.api.cli", "wrapper", "--url", gateway.server.url + "/mcp"],
        env={**os.environ, "LEDGERGATE_TOKEN": gateway.token},
    )

    async def run() -> int:
        async with Client(params, mode="legacy") as session:
            return len((await session.list_tools()).tools)

    assert asyncio.run(run()) > 0


@pytest.mark.parametrize("listed_first", [False, True])
def test_an_x_mcp_header_tool_called_at_2026_07_28_through_the_wrapper_gets_its_mcp_param_headers(
    gateway: Gateway, listed_first: bool
) -> None:
    """SEP-2243: the gateway refuses a 2026-07-28 call of an ``x-mcp-header`` tool without its ``Mcp-Param-*``
    headers, which stdio cannot carry; the wrapper adds them from the declarations it saw in ``tools/list``
    (or fetched itself, when the client called the tool without listing), the value base64-wrapped when it is
    not header-safe."""

    async def run() -> list[str]:
        async with through_wrapper(gateway, Asked(), "2026-07-28") as session:
            if listed_first:
                assert "conf__test_x_mcp_header" in {tool.name for tool in (await session.list_tools()).tools}
            texts = []
            for region in ("eu-west-1", "Zürich 北"):
                result = await session.call_tool("conf__test_x_mcp_header", {"region": region})
                assert not result.is_error, result
                texts.append(result.content[0].text)  # type: ignore[union-attr]
            return texts

    assert asyncio.run(run()) == ["region=eu-west-1", "region=Zürich 北"]


def test_translate_accepts_and_relays_a_2026_07_28_call_of_an_x_mcp_header_tool() -> None:
    """The SDK client mirrors the argument into ``Mcp-Param-Region`` (base64 for a non-ASCII value); translate
    lets the header be and relays the call, whose body the stdio server answers."""
    with translate(f"{sys.executable} -m tests.support.conformance_upstream stdio") as url:

        async def run() -> str:
            async with Client(url, mode="2026-07-28") as session:
                assert "test_x_mcp_header" in {tool.name for tool in (await session.list_tools()).tools}
                result = await session.call_tool("test_x_mcp_header", {"region": "Zürich 北"})
                assert not result.is_error, result
                return result.content[0].text  # type: ignore[union-attr]

        assert asyncio.run(run()) == "region=Zürich 北"


@pytest.mark.parametrize("reachable", [True, False], ids=["gateway", "no-gateway"])
def test_the_wrapper_exits_when_its_client_closes_standard_input(gateway: Gateway, reachable: bool) -> None:
    url = gateway.server.url + "/mcp" if reachable else f"http://127.0.0.1:{free_port()}/mcp"
    params = wrapper(url, gateway.token if reachable else "nobody")
    done = subprocess.run(
        [params.command, *params.args], cwd=params.cwd, stdin=subprocess.DEVNULL, capture_output=True,
        text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
