"""The forwarding use case with fakes of its ports: era bridging and how each failure reaches the client.

``FakeHttp`` stands for a streamable-HTTP upstream (``HttpUpstream``), ``FakePool`` for a pooled stdio/SSE
one (``PooledUpstreams``); the input relay is a plain coroutine that answers as a client would.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

import msgspec
import pytest

from ledgergate.application.errors import ToolCallError
from ledgergate.application.forwarding import UpstreamForwarder, UpstreamRefusedError
from ledgergate.application.held_calls import INPUT_KEY_META, HeldCalls, RequestStateRefusedError
from ledgergate.application.input_relay import MAX_INPUT_ROUNDS, InputRelay
from ledgergate.application.ports import (
    Channel,
    SessionExpiredError,
    UpstreamRpcError,
    UpstreamTransportError,
)
from ledgergate.application.sessions import McpSession
from tests.application.fakes import FakeCipher
from tests.application.test_held_calls import FakeSealer

TENANT = "acme"
ELICIT = {"message": "Your name?", "requestedSchema": {"type": "object", "properties": {}}}
MODERN = Channel(version="2026-07-28")
LEGACY = Channel(version="2025-11-25", session_id="up-session-1")
DONE = {"content": [{"type": "text", "text": "done"}]}


def upstream_row(transport: str = "streamable_http", **settings: Any) -> dict[str, Any]:
    doc = {"name": "weather", "transport": transport, "url": "http://127.0.0.1:9/mcp", "timeout_s": 5, **settings}
    return {"id": "up-1", "version": 3, "deleted": False, "tenant_id": TENANT, "enabled": True, "name": "weather",
            "doc": doc}  # fmt: skip


def tool_row(**annotations: Any) -> dict[str, Any]:
    source = {"upstream_id": "up-1", "original": "forecast"}
    return {"doc": {"source": source, "annotations": annotations, "input_schema": {"type": "object"}}}


class FakeHot:
    def __init__(self, upstream: dict[str, Any]) -> None:
        self.upstream = upstream

    def row(self, item_id: str) -> dict[str, Any] | None:
        return self.upstream if item_id == self.upstream["id"] else None


class FakeHttp:
    """Answers each request with the next of ``answers``: a result, or an exception to raise."""

    def __init__(self, *answers: Any, legacy_sessions: bool = True) -> None:
        self.answers = list(answers)
        self.legacy_sessions = legacy_sessions
        self.negotiated: list[tuple[bool, dict[str, Any] | None]] = []
        self.requests: list[dict[str, Any]] = []
        self.started = asyncio.Event()

    async def negotiate(
        self, url: str, auth: Mapping[str, str], prefer_modern: bool = True, capabilities: dict[str, Any] | None = None
    ) -> Channel:
        self.negotiated.append((prefer_modern, capabilities))
        if not prefer_modern and not self.legacy_sessions:
            raise UpstreamTransportError("no legacy sessions here")
        return MODERN if prefer_modern else LEGACY

    async def request(
        self, url: str, auth: Mapping[str, str], channel: Channel, method: str, params: dict[str, Any], **options: Any
    ) -> dict[str, Any]:
        self.requests.append({"channel": channel, "method": method, "params": params, **options})
        self.started.set()
        answer = self.answers.pop(0) if self.answers else DONE
        if isinstance(answer, BaseException):
            raise answer
        if answer == "hang":
            await asyncio.sleep(3600)
        return answer  # type: ignore[no-any-return]

    async def end_session(self, url: str, auth: Mapping[str, str], channel: Channel) -> None: ...

    async def close(self) -> None: ...


class FakePool:
    """A legacy-only (or modern) pooled upstream whose tool asks the client its name."""

    def __init__(self, modern: bool = False, failure: BaseException | None = None) -> None:
        self.modern = modern
        self.failure = failure
        self.calls: list[dict[str, Any]] = []

    async def speaks_modern(self, spec: dict[str, Any], version: int, client: str = "") -> bool:
        return self.modern

    async def call_tool(self, spec: dict[str, Any], version: int, name: str, arguments: dict[str, Any],
                        *args: Any, **kwargs: Any) -> dict[str, Any]:  # fmt: skip
        self.calls.append({"name": name, "arguments": arguments, "args": args})
        if self.failure is not None:
            raise self.failure
        ask = args[4]
        answer = await ask("elicitation/create", {**ELICIT, "_meta": {INPUT_KEY_META: "user_name"}})
        return {"content": [{"type": "text", "text": f"Hello, {answer['result']['content']['name']}!"}]}


class FakeLimits:
    def __init__(self, full: bool = False) -> None:
        self.full = full
        self.taken: list[tuple[str, int]] = []
        self.busy = 0

    @contextlib.asynccontextmanager
    async def slot(self, upstream_id: str, limit: int) -> AsyncIterator[None]:
        self.taken.append((upstream_id, limit))
        if self.full:
            await asyncio.Event().wait()  # no slot frees up
        self.busy += 1
        try:
            yield
        finally:
            self.busy -= 1


class FakeRecords:
    """The stored records; another worker's change lands on the stored copy, not on the caller's."""

    def __init__(self, *stored: McpSession) -> None:
        self.stored = {session.id: session for session in stored}

    async def change(self, session_id: str, apply: Any) -> McpSession | None:
        found = self.stored.get(session_id)
        if found is not None:
            apply(found)
        return found


def forwarder(http: Any = None, pool: Any = None, limits: Any = None, **settings: Any) -> UpstreamForwarder:
    transport = "stdio" if pool is not None else "streamable_http"
    credentials_asked: list[str] = []

    async def credentials(spec: dict[str, Any], fresh: bool = False) -> dict[str, str]:
        credentials_asked.append(spec["id"])
        return {"Authorization": "Bearer upstream-secret"}

    return UpstreamForwarder(
        FakeHot(upstream_row(transport, **settings)),  # type: ignore[arg-type]
        pool or FakePool(),
        FakeCipher(),
        http or FakeHttp(),
        credentials,
        limits or FakeLimits(),
        FakeRecords(),
        HeldCalls(FakeSealer()),
    )


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


async def elicited(method: str, params: dict[str, Any]) -> dict[str, Any]:
    assert method == "elicitation/create"
    return {"result": {"action": "accept", "content": {"name": "Ada"}}}


# -- failures -------------------------------------------------------------------------------------


def test_an_unreachable_upstream_is_one_tool_error_and_only_a_safe_call_is_tried_again() -> None:
    unsafe, safe = (
        FakeHttp(*[UpstreamTransportError("connection refused")] * 3),
        FakeHttp(*[UpstreamTransportError("connection refused")] * 3),
    )
    with pytest.raises(ToolCallError, match="upstream weather is unreachable: connection refused"):
        run(forwarder(unsafe).call_tool(TENANT, tool_row(), {}, None))
    with pytest.raises(ToolCallError, match="unreachable"):
        run(forwarder(safe).call_tool(TENANT, tool_row(idempotentHint=True), {}, None))
    assert len(unsafe.requests) == 1  # a call that may have run is not sent twice
    assert len(safe.requests) == 2


def test_a_json_rpc_error_of_the_upstream_reaches_the_client_as_it_came_and_is_not_retried() -> None:
    http = FakeHttp(UpstreamRpcError(-32021, "client capability missing", {"missing": ["elicitation"]}))
    with pytest.raises(UpstreamRefusedError) as caught:
        run(forwarder(http).call_tool(TENANT, tool_row(readOnlyHint=True), {"city": "Oslo"}, None))
    assert (caught.value.code, caught.value.message, caught.value.data) == (
        -32021,
        "client capability missing",
        {"missing": ["elicitation"]},
    )
    assert isinstance(caught.value, ToolCallError)  # and the JSON-RPC error is not wrapped in another
    assert len(http.requests) == 1


def test_a_pooled_upstreams_json_rpc_error_is_translated_the_same_way() -> None:
    pool = FakePool(modern=True, failure=UpstreamRpcError(-32602, "unknown tool"))
    with pytest.raises(UpstreamRefusedError) as caught:
        run(forwarder(pool=pool).call_tool(TENANT, tool_row(), {}, None))
    assert (caught.value.code, caught.value.message) == (-32602, "unknown tool")


def test_an_expired_upstream_session_is_negotiated_again_and_the_request_sent_once_more() -> None:
    http = FakeHttp(SessionExpiredError("404"), DONE)
    result = run(forwarder(http).call_tool(TENANT, tool_row(), {}, None))
    assert result == DONE
    assert len(http.negotiated) == 2 and len(http.requests) == 2


def test_a_call_waits_for_a_slot_of_the_upstreams_limit_and_times_out_as_a_tool_error() -> None:
    limits = FakeLimits(full=True)
    http = FakeHttp()
    with pytest.raises(ToolCallError, match=r"did not answer within 0\.2 s"):
        run(forwarder(http, limits=limits, timeout_s=0.2, concurrency_limit=4).call_tool(TENANT, tool_row(), {}, None))
    assert limits.taken == [("up-1", 4)]
    assert http.requests == []  # the upstream never saw the call


def test_a_cancelled_call_cancels_the_upstream_request_and_frees_its_slot() -> None:
    async def scenario() -> tuple[FakeLimits, bool]:
        limits, http = FakeLimits(), FakeHttp("hang")
        task = asyncio.create_task(forwarder(http, limits=limits).call_tool(TENANT, tool_row(), {}, None))
        await asyncio.wait_for(http.started.wait(), 5)
        assert limits.busy == 1
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return limits, task.cancelled()

    limits, cancelled = run(scenario())
    assert cancelled  # cancellation propagates, it is not turned into a tool error
    assert limits.busy == 0


def test_a_disabled_or_foreign_upstream_is_refused_before_anything_is_sent() -> None:
    http = FakeHttp()
    with pytest.raises(ToolCallError, match="gone"):
        run(forwarder(http).call_tool("another-tenant", tool_row(), {}, None))
    assert http.requests == [] and http.negotiated == []


# -- input from the client ----------------------------------------------------------------------


def test_a_modern_clients_call_gets_input_required_as_it_came_and_its_retry_passes_through() -> None:
    wanted = {"resultType": "input_required", "inputRequests": {"k": {"method": "elicitation/create",
              "params": ELICIT}}, "requestState": "upstream-state"}  # fmt: skip
    http = FakeHttp(wanted, DONE)
    fwd = forwarder(http)
    first = run(fwd.call_tool(TENANT, tool_row(), {}, None, relay=InputRelay({"elicitation": {}}, modern=True)))
    retry = {"inputResponses": {"k": {"action": "accept"}}, "requestState": "upstream-state"}
    second = run(fwd.call_tool(TENANT, tool_row(), {}, None, relay=InputRelay(retry_params=retry, modern=True)))
    assert first == wanted and second == DONE
    assert http.requests[1]["params"] == {"name": "forecast", "arguments": {}, **retry}
    assert http.requests[0]["capabilities"] == {"elicitation": {}}


def test_a_legacy_clients_input_required_is_fulfilled_by_asking_it_on_a_modern_only_upstream() -> None:
    wanted = {"resultType": "input_required", "inputRequests": {"k": {"method": "elicitation/create",
              "params": ELICIT}}, "requestState": "s1"}  # fmt: skip
    http = FakeHttp(wanted, DONE, legacy_sessions=False)
    relay = InputRelay({"elicitation": {}, "experimental": {}}, ask=elicited)
    assert run(forwarder(http).call_tool(TENANT, tool_row(), {}, None, relay=relay)) == DONE
    # a legacy session declaring what the client can be asked was tried first, then the modern channel
    assert http.negotiated[0] == (False, {"elicitation": {}})
    assert http.requests[1]["params"]["inputResponses"] == {"k": {"action": "accept", "content": {"name": "Ada"}}}
    assert http.requests[1]["params"]["requestState"] == "s1"


def test_a_client_that_refuses_the_input_fails_the_call_and_endless_input_is_cut_off() -> None:
    wanted = {"resultType": "input_required", "inputRequests": {"k": {"method": "elicitation/create",
              "params": ELICIT}}}  # fmt: skip

    async def refuses(method: str, params: dict[str, Any]) -> dict[str, Any]:
        return {"error": {"code": -1, "message": "user declined"}}

    with pytest.raises(ToolCallError, match="did not fulfil elicitation/create"):
        run(forwarder(FakeHttp(wanted)).call_tool(TENANT, tool_row(), {}, None, relay=InputRelay(ask=refuses)))
    endless = FakeHttp(*[wanted] * (MAX_INPUT_ROUNDS + 1))
    with pytest.raises(ToolCallError, match=f"still wanted input after {MAX_INPUT_ROUNDS} rounds"):
        run(forwarder(endless).call_tool(TENANT, tool_row(), {}, None, relay=InputRelay(ask=elicited)))
    assert len(endless.requests) == MAX_INPUT_ROUNDS


def test_a_modern_client_reaching_a_legacy_only_upstream_gets_its_question_as_input_required() -> None:
    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        fwd = forwarder(pool=FakePool(modern=False))
        relay = InputRelay({"elicitation": {}}, modern=True, caller="token-1")
        first = await fwd.call_tool(TENANT, tool_row(), {}, None, relay=relay)
        answers = {"user_name": {"action": "accept", "content": {"name": "Ada"}}}
        retry = InputRelay(retry_params={"inputResponses": answers, "requestState": first["requestState"]},
                           modern=True, caller="token-1")  # fmt: skip
        return first, await fwd.call_tool(TENANT, tool_row(), {}, None, relay=retry)

    first, done = run(scenario())
    assert first["resultType"] == "input_required"
    assert first["inputRequests"] == {"user_name": {"method": "elicitation/create", "params": ELICIT}}
    assert done == {"content": [{"type": "text", "text": "Hello, Ada!"}]}


def test_a_request_state_the_gateway_did_not_seal_is_refused_for_a_held_upstream() -> None:
    retry = InputRelay(retry_params={"inputResponses": {}, "requestState": "forged"}, modern=True, caller="t")
    pool = FakePool(modern=False)
    with pytest.raises(UpstreamRefusedError) as caught:
        run(forwarder(pool=pool).call_tool(TENANT, tool_row(), {}, None, relay=retry))
    assert caught.value.code == RequestStateRefusedError.code
    assert pool.calls == []


def test_a_per_client_upstream_session_is_recorded_in_the_clients_session_keeping_what_changed_meanwhile() -> None:
    session = McpSession(id="s-1", tenant_id=TENANT, server_id=None, token_id="t", protocol_version="2025-11-25")
    stored = msgspec.convert(msgspec.to_builtins(session), McpSession)
    stored.subscriptions = ["test://changed-by-another-worker"]
    records = FakeRecords(stored)
    http = FakeHttp()
    fwd = forwarder(http, session_mode="per_client")
    fwd.sessions = records
    run(fwd.call_tool(TENANT, tool_row(), {}, None, client="s-1", session=session))
    assert session.upstreams["up-1"]["session_id"] == "up-session-1"
    assert stored.upstreams == session.upstreams  # recorded on the stored record ...
    assert stored.subscriptions == ["test://changed-by-another-worker"]  # ... without writing over its other fields
    assert http.negotiated == [(False, {})]  # a client's own legacy session, declaring what it can be asked
