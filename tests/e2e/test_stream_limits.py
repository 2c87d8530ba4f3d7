"""Per-token limits on open streams and on tools/call in flight: over them, 429 with Retry-After and a
JSON-RPC error; other tokens are not affected, and a slot frees when its stream or call ends."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import ServerProcess, start_server
from tests.support.mcp_http import initialize, legacy, modern, new_tenant, wait_until

pytestmark = pytest.mark.slow

LIMIT = 2


@contextmanager
def holding_service() -> Iterator[tuple[str, threading.Event, list[int]]]:
    """An HTTP service whose answers wait until the test releases them; counts the requests waiting."""
    release = threading.Event()
    waiting = [0]

    class Hold(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            waiting[0] += 1
            release.wait(30)
            waiting[0] -= 1
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hold)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", release, waiting
    finally:
        release.set()
        server.shutdown()
        server.server_close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    process = start_server(
        tmp_path / "data",
        LEDGERGATE_STREAMS_PER_TOKEN=str(LIMIT),
        LEDGERGATE_CALLS_IN_FLIGHT_PER_TOKEN=str(LIMIT),
        LEDGERGATE_SESSION_IDLE_S="3",  # quiet streams write every second, so closed ones are noticed soon
    )
    try:
        yield process
    finally:
        process.stop()


def _refused(answer: httpx.Response) -> None:
    assert answer.status_code == 429, answer.text
    assert int(answer.headers["Retry-After"]) >= 1
    assert answer.headers["content-type"].startswith("application/json")
    error = answer.json()["error"]
    assert error["code"] == -32003
    assert str(LIMIT) in error["message"]


def _session(http: httpx.Client, server: ServerProcess, token: str) -> str:
    answer = wait_until(lambda: (r := initialize(http, server.url, token)).status_code != 403 and r, "the tenant")
    assert answer.status_code == 200, answer.text
    return answer.headers["Mcp-Session-Id"]


def _stream_headers(token: str, session: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
    return headers | ({"Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-11-25"} if session else {})


def test_streams_over_the_per_token_limit_get_429_and_other_tokens_are_not_affected(server: ServerProcess) -> None:
    admin = (server.data_dir / "admin-token").read_text().strip()
    with httpx.Client(timeout=10) as http, ExitStack() as streams:
        slug, (greedy, other) = new_tenant(http, server.url, admin, tokens=2)
        session = _session(http, server, greedy)
        for _ in range(LIMIT):
            held = streams.enter_context(
                http.stream("GET", server.url + "/mcp", headers=_stream_headers(greedy, session))
            )
            assert held.status_code == 200

        _refused(http.get(server.url + "/mcp", headers=_stream_headers(greedy, session)))
        with http.stream("GET", server.url + "/sse", headers=_stream_headers(greedy)) as sse:
            assert sse.status_code == 429
            sse.read()
            _refused(sse)
        listen = modern(http, server.url, greedy, "subscriptions/listen", {"notifications": {"toolsListChanged": True}})
        _refused(listen)
        assert legacy(http, server.url, greedy, session, "tools/list").status_code == 200  # requests still served

        other_session = _session(http, server, other)
        with http.stream("GET", server.url + "/mcp", headers=_stream_headers(other, other_session)) as theirs:
            assert theirs.status_code == 200

        def opens_a_stream() -> bool:
            with http.stream("GET", server.url + "/sse", headers=_stream_headers(greedy)) as again:
                assert again.status_code in (200, 429), slug
                return again.status_code == 200

        streams.close()  # the greedy token's streams end: its slots free once the server sees them go
        wait_until(opens_a_stream, "a slot to free", timeout_s=30)


def test_tool_calls_in_flight_over_the_per_token_limit_get_429_until_one_ends(server: ServerProcess) -> None:
    admin = (server.data_dir / "admin-token").read_text().strip()
    auth = {"Authorization": f"Bearer {admin}"}
    with holding_service() as (hold_url, release, waiting), httpx.Client(timeout=30) as http:
        slug, (greedy, other) = new_tenant(http, server.url, admin, tokens=2)
        tool = http.post(
            server.url + f"/v1/tenants/{slug}/tools",
            headers=auth,
            json={
                "name": "hold",
                "input_schema": {"type": "object"},
                "integration": {"method": "GET", "url": hold_url},
            },
        )
        assert tool.status_code == 201, tool.text
        session, other_session = _session(http, server, greedy), _session(http, server, other)
        wait_until(
            lambda: legacy(http, server.url, greedy, session, "tools/list").json()["result"]["tools"], "the tool"
        )

        def call(token: str, sid: str) -> httpx.Response:
            return legacy(http, server.url, token, sid, "tools/call", {"name": "hold", "arguments": {}})

        with ThreadPoolExecutor(LIMIT + 1) as pool:
            held = [pool.submit(call, greedy, session) for _ in range(LIMIT)]
            wait_until(lambda: waiting[0] == LIMIT, "the calls to be in flight")
            _refused(call(greedy, session))
            _refused(modern(http, server.url, greedy, "tools/call", {"name": "hold", "arguments": {}}, name="hold"))
            theirs = pool.submit(call, other, other_session)  # another token has its own slots
            wait_until(lambda: waiting[0] == LIMIT + 1, "the other token's call to be in flight")
            release.set()
            assert [f.result().status_code for f in [*held, theirs]] == [200] * (LIMIT + 1)
        assert call(greedy, session).json()["result"]["isError"] is False  # its slots are free again
