"""Traces from ``OTEL_*`` variables alone: a two-worker ``ledgergate serve`` exports the spans of a call
forwarded to a real upstream to a local OTLP/HTTP receiver, and the trace context reaches the upstream."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator

import httpx
import pytest

from tests.api.conftest import ServerProcess, start_server
from tests.conftest import REDIS_URL
from tests.conftest import _unavailable as unavailable
from tests.support.mcp_http import initialize, legacy, wait_until
from tests.support.otlp_receiver import Receiver, Span, otlp_receiver
from tests.support.processes import serving

pytestmark = pytest.mark.slow

SERVER, CLIENT = 2, 3  # OTLP span kinds


@pytest.fixture(scope="module")
def redis_for_module() -> str:
    """Several workers share sessions through Redis (skips without it, fails without it when CI=true)."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        unavailable("Redis", exc)
    return REDIS_URL


@pytest.fixture(scope="module")
def traced(
    tmp_path_factory: pytest.TempPathFactory, redis_for_module: str
) -> Iterator[tuple[ServerProcess, Receiver, str]]:
    with otlp_receiver() as receiver, serving("tests.support.traced_upstream") as upstream_url:
        server = start_server(
            tmp_path_factory.mktemp("traced") / "data",
            workers=2,
            LEDGERGATE_REDIS_URL=redis_for_module,
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url,
            OTEL_SERVICE_NAME="gateway-under-test",
            OTEL_BSP_SCHEDULE_DELAY="100",
        )
        try:
            yield server, receiver, upstream_url
        finally:
            server.stop()


def _one(spans: list[Span], kind: int, name: str) -> Span:
    found = [s for s in spans if s.kind == kind and s.name == name]
    assert len(found) == 1, [(s.name, s.kind) for s in spans]
    return found[0]


def test_a_forwarded_call_is_one_trace_from_the_client_through_the_gateway_to_the_upstream(
    traced: tuple[ServerProcess, Receiver, str],
) -> None:
    server, receiver, upstream_url = traced
    token = (server.data_dir / "admin-token").read_text().strip()
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(timeout=30) as http:
        written = http.post(
            server.url + "/v1/tenants/default/upstreams",
            json={"name": "traced", "transport": "streamable_http", "url": upstream_url},
            headers=auth,
        )
        assert written.status_code == 201, written.text
        position = written.json()["position"]
        assert http.get(server.url + f"/v1/tenants/default/tools?min_position={position}", headers=auth).is_success
        session = initialize(http, server.url, token).headers["mcp-session-id"]
        trace_id, client_span = secrets.token_hex(16), secrets.token_hex(8)
        answer = http.post(
            server.url + "/mcp",
            json={"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "traced__seen"}},
            headers={
                **auth,
                "Accept": "application/json, text/event-stream",
                "Mcp-Session-Id": session,
                "MCP-Protocol-Version": "2025-11-25",
                "traceparent": f"00-{trace_id}-{client_span}-01",
            },
        )
        assert answer.status_code == 200, answer.text
        seen = json.loads(answer.json()["result"]["content"][0]["text"])
        assert legacy(http, server.url, token, session, "ping").status_code == 200

    spans = wait_until(
        lambda: s if len(s := receiver.of_trace(trace_id)) >= 3 else None, "the call's spans", timeout_s=20
    )
    http_span = _one(spans, SERVER, "POST /mcp")
    call = _one(spans, SERVER, "tools/call traced__seen")
    upstream = _one(spans, CLIENT, "tools/call seen")
    assert http_span.parent_id == client_span  # the incoming traceparent is continued
    assert call.parent_id == http_span.span_id and upstream.parent_id == call.span_id
    assert call.attributes["mcp.method.name"] == "tools/call"
    assert call.attributes["gen_ai.tool.name"] == "traced__seen"
    assert call.attributes["gen_ai.operation.name"] == "execute_tool"
    assert call.attributes["ledgergate.tenant"] == "default"
    assert call.attributes["ledgergate.upstream"] == "traced"
    assert len(call.attributes["mcp.session.id"]) == 32 and call.attributes["mcp.session.id"] != session
    assert call.attributes["jsonrpc.request.id"] == "7"
    assert upstream.attributes["gen_ai.tool.name"] == "seen"
    assert upstream.attributes["http.response.status_code"] == 200
    assert call.resource["service.name"] == "gateway-under-test"
    # the upstream was called in the same trace, as a child of the gateway's client span: header and _meta
    assert seen["header"] == f"00-{trace_id}-{upstream.span_id}-01"
    assert seen["meta"] == seen["header"]
    assert token not in json.dumps([s.attributes for s in spans])


def test_a_rest_tool_call_carries_the_trace_to_the_api_and_the_log_line_names_the_trace(
    traced: tuple[ServerProcess, Receiver, str],
) -> None:
    from tests.support.echo import echo_service

    server, receiver, _ = traced
    token = (server.data_dir / "admin-token").read_text().strip()
    auth = {"Authorization": f"Bearer {token}"}
    with echo_service() as echo, httpx.Client(timeout=30) as http:
        tool = {
            "name": "echoed",
            "input_schema": {"type": "object"},
            "integration": {"method": "POST", "url": echo + "/echo"},
        }
        written = http.post(server.url + "/v1/tenants/default/tools", json=tool, headers=auth)
        assert written.status_code == 201, written.text
        position = written.json()["position"]
        assert http.get(server.url + f"/v1/tenants/default/tools?min_position={position}", headers=auth).is_success
        session = initialize(http, server.url, token).headers["mcp-session-id"]
        answer = legacy(http, server.url, token, session, "tools/call", {"name": "echoed", "arguments": {}})
        assert answer.status_code == 200, answer.text
        received = json.loads(answer.json()["result"]["content"][0]["text"])
    trace_id = received["traceparent"].split("-")[1]
    spans = wait_until(lambda: s if len(s := receiver.of_trace(trace_id)) >= 3 else None, "spans", timeout_s=20)
    rest = _one(spans, CLIENT, "POST")
    assert received["traceparent"].startswith(f"00-{trace_id}-{rest.span_id}-")
    assert _one(spans, SERVER, "tools/call echoed").span_id == rest.parent_id
    lines = [json.loads(line) for line in server.log.read_text().splitlines() if line.startswith("{")]
    calls = [line for line in lines if line.get("event") == "mcp.call" and line.get("tool") == "echoed"]
    assert calls and calls[0]["trace_id"] == trace_id and calls[0]["span_id"] == rest.parent_id


def test_a_traceparent_in_meta_is_continued_by_a_modern_request(traced: tuple[ServerProcess, Receiver, str]) -> None:
    server, receiver, _ = traced
    token = (server.data_dir / "admin-token").read_text().strip()
    trace_id, parent = secrets.token_hex(16), secrets.token_hex(8)
    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "traceparent": f"00-{trace_id}-{parent}-01",
    }
    answer = httpx.post(
        server.url + "/mcp",
        json={"jsonrpc": "2.0", "id": 3, "method": "tools/list", "params": {"_meta": meta}},
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/json, text/event-stream",
            "MCP-Protocol-Version": "2026-07-28",
            "Mcp-Method": "tools/list",
        },
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    spans = wait_until(lambda: receiver.of_trace(trace_id) or None, "the request's span", timeout_s=20)
    listed = _one(spans, SERVER, "tools/list")
    assert listed.parent_id == parent
    assert listed.attributes["mcp.protocol.version"] == "2026-07-28"
