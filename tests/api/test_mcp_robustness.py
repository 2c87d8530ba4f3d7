"""Property-based robustness of the MCP endpoints, against a real ``ledgergate serve`` process.

Hypothesis sends arbitrary bytes, deep nesting, random JSON-RPC envelopes (every id type, method value,
params shape and ``jsonrpc`` value), random params for every method, and random batches, in both eras
(legacy sessions that were really initialized; stateless 2026-07-28 with ``_meta`` and its headers), to
every MCP endpoint: ``/mcp``, ``/servers/{id}/mcp`` and the HTTP+SSE ``/message?session_id=``.

Properties: never a 5xx; an answer is valid JSON-RPC (or an empty 202 for a notification or a
response); its error code is one the specification gives the input's class, as read by ``expected``
in ``tests/support/jsonrpc_oracle.py``, written from the schema and not from the gateway's code. The
module ends with the counts it tried (``inputs tried: N, 5xx seen: 0``).
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.conftest import start_server
from tests.api.test_mcp_protocol import HANDBOOK, OUTSIDER, SUMMARISE, sse_events
from tests.support.echo import echo_service
from tests.support.jsonrpc_oracle import (
    ABSENT,
    MAX_DEPTH,
    MODERN,
    NAME_FIELDS,
    expected,
    is_id,
    status_fits,
    strict_json,
)
from tests.support.jsonrpc_strategies import PARAMS, envelopes, json_values, maybe, mostly, nest, spoiled

META_VERSION = "io.modelcontextprotocol/protocolVersion"
META_CAPABILITIES = "io.modelcontextprotocol/clientCapabilities"
CLIENT_INFO = {"name": "robustness-test", "version": "1"}
META = {META_VERSION: MODERN, META_CAPABILITIES: {}, "io.modelcontextprotocol/clientInfo": CLIENT_INFO}

EXAMPLES = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)

# -- the counts the suite reports ------------------------------------------------------------------


@dataclass
class Tally:
    inputs: int = 0
    server_errors: int = 0
    results: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    codes: Counter[int] = field(default_factory=Counter)

    def line(self) -> str:
        return (
            f"MCP robustness: inputs tried: {self.inputs}, 5xx seen: {self.server_errors}, results: {self.results}, "
            f"statuses: {dict(sorted(self.statuses.items()))}, error codes: {dict(sorted(self.codes.items()))}"
        )


TALLY = Tally()

# -- the server, its catalog, and one client per era and endpoint ------------------------------------


@dataclass
class Target:
    """Where an example goes: an endpoint, in an era (``legacy`` with a live session, or ``modern``)."""

    label: str
    path: str
    era: str
    session_id: str | None = None
    version: str = "2025-11-25"


class HttpSseStream:
    """A live HTTP+SSE session: its ``/message`` URL, and the messages its stream delivers, by id."""

    def __init__(self, http: httpx.Client, path: str, headers: dict[str, str]) -> None:
        self._response_cm = http.stream("GET", path, headers={**headers, "Accept": "text/event-stream"})
        response = self._response_cm.__enter__()
        assert response.status_code == 200, response.read()
        self._events = sse_events(response.iter_lines(), time.monotonic() + 3600)
        event, self.endpoint = next(self._events)
        assert event == "endpoint"
        self.answers: dict[Any, dict[str, Any]] = {}
        self.unmatched: list[dict[str, Any]] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        try:
            for _, data in self._events:
                message = json.loads(data)
                with self._changed:
                    if "id" in message and message["id"] is not None:
                        self.answers[json.dumps(message["id"])] = message
                    else:
                        self.unmatched.append(message)
                    self._changed.notify_all()
        except (httpx.HTTPError, AssertionError):  # the stream was closed at the end of the module
            return

    def answer(self, request_id: Any, timeout: float = 10.0) -> dict[str, Any]:
        key = json.dumps(request_id)
        with self._changed:
            assert self._changed.wait_for(lambda: key in self.answers, timeout), f"no answer to {key} on the stream"
            return self.answers.pop(key)

    def close(self) -> None:
        self._response_cm.__exit__(None, None, None)


@dataclass
class Served:
    http: httpx.Client
    token: str
    server_id: str
    targets: list[Target]
    batching: list[Target]
    streams: list[HttpSseStream]
    ids: Iterator[int]

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **extra}


def header_safe(value: str) -> str:
    """A header value as the 2026-07-28 transport sends it: plain if visible ASCII, else base64."""
    plain = value.isascii() and value.isprintable() and value == value.strip() and not value.startswith("=?base64?")
    return value if plain and value else "=?base64?" + base64.b64encode(value.encode()).decode() + "?="


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    data: Path = tmp_path_factory.mktemp("mcp-robustness") / "data"
    server = start_server(data)
    admin = {"Authorization": f"Bearer {(data / 'admin-token').read_text().strip()}"}
    try:
        with echo_service() as echo, httpx.Client(base_url=server.url, timeout=30) as http:

            def create(path: str, body: dict[str, Any]) -> str:
                created = http.post(path, json=body, headers=admin)
                assert created.status_code == 201, created.text
                return str(created.json()["id"])

            weather = {
                "name": "weather",
                "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
                "integration": {"method": "GET", "url": echo + "/weather/{city}"},
            }
            members = {
                "tool_ids": [create("/v1/tenants/default/tools", weather)],
                "prompt_ids": [create("/v1/tenants/default/prompts", SUMMARISE)],
                "resource_ids": [create("/v1/tenants/default/resources", HANDBOOK)],
            }
            create("/v1/tenants/default/tools", OUTSIDER)
            server_id = create("/v1/tenants/default/servers", {"name": "robust", **members})
            issued = http.post("/v1/tenants/default/tokens", json={"name": "fuzz", "role": "client"}, headers=admin)
            assert issued.status_code == 201, issued.text
            token = issued.json()["token"]
            auth = {"Authorization": f"Bearer {token}"}
            streams = [HttpSseStream(http, path, auth) for path in ("/sse", f"/servers/{server_id}/sse")]
            served = Served(http, token, server_id, [], [], streams, iter(range(1, 10**9)))
            try:
                prepare(served)
                yield served
            finally:
                for stream in streams:
                    stream.close()
    finally:
        server.stop()


def prepare(served: Served) -> None:
    """Sessions for each endpoint (one in 2025-03-26 for batches), the HTTP+SSE ones initialized."""
    paths = {"tenant": "/mcp", "server": f"/servers/{served.server_id}/mcp"}
    wait_for_catalog(served, paths["server"])
    for where, path in paths.items():
        served.targets.append(Target(f"modern-{where}", path, "modern"))
        served.targets.append(open_session(served, Target(f"legacy-{where}", path, "legacy")))
        served.batching.append(open_session(served, Target(f"batch-{where}", path, "legacy", version="2025-03-26")))
    params = {"protocolVersion": "2024-11-05", "capabilities": {}, "clientInfo": {"name": "p", "version": "1"}}
    initialize = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": params}
    for stream in served.streams:
        posted = served.http.post(stream.endpoint, json=initialize, headers=served.headers())
        assert posted.status_code == 202, posted.text
        assert stream.answer(0)["result"]["protocolVersion"] == "2024-11-05"


def wait_for_catalog(served: Served, path: str) -> None:
    deadline = time.monotonic() + 20
    while True:
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": META}}
        listed = served.http.post(path, json=body, headers=modern_headers(served, body))
        if listed.status_code == 200 and listed.json()["result"]["tools"]:
            return
        assert time.monotonic() < deadline, f"the virtual server never reached the hot catalogs: {listed.text}"
        time.sleep(0.05)


def open_session(served: Served, target: Target) -> Target:
    params = {"protocolVersion": target.version, "capabilities": {}, "clientInfo": {"name": "p", "version": "1"}}
    opened = served.http.post(
        target.path,
        json={"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": params},
        headers=served.headers(Accept="application/json, text/event-stream"),
    )
    assert opened.status_code == 200, opened.text
    target.session_id = opened.headers["Mcp-Session-Id"]
    initialized = served.http.post(
        target.path,
        json={"jsonrpc": "2.0", "method": "notifications/initialized"},
        headers=served.headers(**legacy_headers(target)),
    )
    assert initialized.status_code == 202
    return target


def legacy_headers(target: Target) -> dict[str, str]:
    return {
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        "Mcp-Session-Id": str(target.session_id),
        "MCP-Protocol-Version": target.version,
    }


def modern_headers(served: Served, message: Any) -> dict[str, str]:
    """The headers a 2026-07-28 client derives from its message (header-safe encoded)."""
    headers = served.headers(
        **{"Accept": "application/json, text/event-stream", "Content-Type": "application/json"},
        **{"MCP-Protocol-Version": MODERN},
    )
    method = message.get("method") if isinstance(message, dict) else None
    if isinstance(method, str):
        headers["Mcp-Method"] = header_safe(method)
        params = message.get("params")
        named = params.get(NAME_FIELDS[method]) if isinstance(params, dict) and method in NAME_FIELDS else None
        if isinstance(named, str):
            headers["Mcp-Name"] = header_safe(named)
    return headers


# -- sending, and the properties every answer has ------------------------------------------------------


def send(served: Served, target: Target, body: bytes, message: Any = None) -> httpx.Response:
    legacy = target.era == "legacy"
    headers = served.headers(**legacy_headers(target)) if legacy else modern_headers(served, message)
    response = served.http.post(target.path, content=body, headers=headers)
    TALLY.inputs += 1
    TALLY.statuses[response.status_code] += 1
    if response.status_code >= 500:
        TALLY.server_errors += 1
    assert response.status_code < 500, f"{response.status_code} for {body[:300]!r}: {response.text[:300]}"
    return response


def answers(response: httpx.Response) -> list[dict[str, Any]]:
    """The JSON-RPC messages of an answer: none for 202, one for JSON, the data events of an SSE stream."""
    if response.status_code == 202:
        assert response.content == b"", response.text
        return []
    kind = response.headers.get("content-type", "")
    if kind.startswith("text/event-stream"):
        events = [json.loads(line[5:]) for line in response.text.splitlines() if line.startswith("data:")]
        assert events, response.text
        return events
    assert kind.startswith("application/json"), (response.status_code, kind, response.text)
    decoded = response.json()
    return decoded if isinstance(decoded, list) else [decoded]


def check_response(message: Any) -> Any:
    """A valid JSON-RPC response: its error code (or ``"result"``)."""
    assert isinstance(message, dict) and message.get("jsonrpc") == "2.0", message
    if "method" in message:  # a notification the server sent before the response (progress)
        return None
    assert "id" in message and (("result" in message) != ("error" in message)), message
    if "result" in message:
        assert isinstance(message["result"], dict), message
        TALLY.results += 1
        return "result"
    error = message["error"]
    assert isinstance(error.get("code"), int) and isinstance(error.get("message"), str), message
    TALLY.codes[error["code"]] += 1
    return error["code"]


def outcome(response: httpx.Response) -> tuple[Any, Any]:
    """(what the answer was: ``202``, ``"result"`` or an error code; the id it carries)."""
    found = [(check_response(m), m.get("id")) for m in answers(response)]
    found = [f for f in found if f[0] is not None]
    if not found:
        return 202, None
    assert len(found) == 1, response.text
    return found[0]


def dressed(target: Target, message: Any) -> Any:
    """A modern message carries the ``_meta`` envelope a 2026-07-28 client puts in every params object."""
    if target.era != "modern" or not isinstance(message, dict) or not isinstance(message.get("params"), dict):
        return message
    params = message["params"]
    meta = params.get("_meta", {})
    return {**message, "params": {**params, "_meta": {**META, **meta} if isinstance(meta, dict) else meta}}


def targets(served: Served) -> st.SearchStrategy[Target]:
    return st.sampled_from(served.targets)


FRAMING = (202, -32700, -32600)  # answers that echo no id of the request


def check(target: Target, message: Any, response: httpx.Response) -> None:
    answer, answered_id = outcome(response)
    allowed = expected(target.era, message)
    assert answer in allowed, f"{target.label}: {message!r} got {answer} ({response.status_code}), not {allowed}"
    assert status_fits(target.era, answer, response.status_code), (target.label, message, response.text)
    if isinstance(message, dict) and is_id(message.get("id")) and "method" in message and answer not in FRAMING:
        assert answered_id == message["id"], (message, response.text)


# -- the properties --------------------------------------------------------------------------------


@EXAMPLES
@given(data=st.data())
def test_arbitrary_bytes_never_get_a_5xx_and_unparseable_ones_get_32700(served: Served, data: st.DataObject) -> None:
    target = data.draw(targets(served))
    body = data.draw(
        st.binary(max_size=200)
        | st.text(max_size=60).map(str.encode)
        | st.builds(spoiled, envelopes(), st.integers(0, 10**6), st.binary(min_size=1, max_size=4))
    )
    response = send(served, target, body)
    answer, answered_id = outcome(response)
    if strict_json(body) is ABSENT:
        assert (answer, answered_id, response.status_code) == (-32700, None, 400), (body, response.text)


@EXAMPLES
@given(data=st.data())
def test_nesting_past_the_depth_limit_gets_32700_and_within_it_is_parsed(served: Served, data: st.DataObject) -> None:
    target = data.draw(targets(served))
    depth = data.draw(st.integers(1, 2 * MAX_DEPTH) | st.sampled_from([1_000, 10_000, 100_000]))
    kind = data.draw(st.sampled_from(["array", "object"]))
    where = data.draw(st.sampled_from(["body", "params", "arguments"]))
    inner = nest(depth, kind)
    meta = b',"_meta":' + json.dumps(META).encode() if target.era == "modern" else b""
    if where == "body":
        body, total = inner, depth
    else:  # inside a tools/call, whose message, params and arguments are levels too
        if where == "arguments":
            params, total = b'{"name":"weather","arguments":{"deep":' + inner + b"}" + meta + b"}", depth + 3
        else:
            params, total = b'{"name":"weather","extra":' + inner + meta + b"}", depth + 2
        body = b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":' + params + b"}"
    message = {"method": "tools/call", "params": {"name": "weather"}} if where != "body" else None
    response = send(served, target, body, message)
    answer, _ = outcome(response)
    if total > MAX_DEPTH:
        assert (answer, response.status_code) == (-32700, 400), (depth, where, response.text)
    else:
        assert answer != -32700, (depth, where, response.text)


@EXAMPLES
@given(data=st.data())
def test_random_envelopes_get_the_answer_their_class_deserves(served: Served, data: st.DataObject) -> None:
    target = data.draw(targets(served))
    message = dressed(target, data.draw(envelopes() | json_values))
    check(target, message, send(served, target, json.dumps(message).encode(), message))


@EXAMPLES
@given(data=st.data())
def test_random_params_of_every_method_get_32602_exactly_when_off_the_schema(
    served: Served, data: st.DataObject
) -> None:
    target = data.draw(targets(served))
    method = data.draw(st.sampled_from(sorted(PARAMS)))
    message = {"jsonrpc": "2.0", "id": data.draw(st.integers(0, 10**6) | st.text(max_size=6)), "method": method}
    params = data.draw(maybe(PARAMS[method]))
    if params is not ABSENT:
        message["params"] = params
    message = dressed(target, message)
    check(target, message, send(served, target, json.dumps(message).encode(), message))


@settings(EXAMPLES, max_examples=60)
@given(data=st.data())
def test_random_batches_in_a_2025_03_26_session_answer_each_item(served: Served, data: st.DataObject) -> None:
    target = data.draw(st.sampled_from(served.batching))
    batch = data.draw(st.lists(envelopes() | json_values, min_size=1, max_size=6))
    response = send(served, target, json.dumps(batch).encode(), batch)
    replies = answers(response)
    allowed = [expected("legacy", item, in_batch=True) for item in batch]
    owed = [a for a in allowed if a != {202}]
    assert len(replies) == len(owed), (batch, response.text)
    assert response.status_code == (200 if owed else 202), response.text
    got = {check_response(r) for r in replies}
    assert got <= set().union(*owed), (batch, response.text)


@settings(EXAMPLES, max_examples=100)
@given(data=st.data())
def test_random_messages_on_the_http_sse_endpoints_are_answered_on_the_post_or_the_stream(
    served: Served, data: st.DataObject
) -> None:
    stream = data.draw(st.sampled_from(served.streams))
    message = data.draw(envelopes().filter(lambda m: m.get("method") != "initialize") | json_values)
    if isinstance(message, dict) and "id" in message and is_id(message["id"]):  # unique, so answers can be told apart
        message["id"] = next(served.ids) if isinstance(message["id"], int) else f"sse-{next(served.ids)}"
    body = data.draw(
        mostly(
            st.just(json.dumps(message).encode()),
            st.builds(spoiled, envelopes(), st.integers(0, 10**6), st.binary(min_size=1, max_size=4))
            | st.sampled_from([nest(MAX_DEPTH + 1, "array"), nest(1_000, "object"), nest(100_000, "array")]),
        )
    )
    posted = served.http.post(
        stream.endpoint, content=body, headers=served.headers(**{"Content-Type": "application/json"})
    )
    TALLY.inputs += 1
    TALLY.statuses[posted.status_code] += 1
    TALLY.server_errors += posted.status_code >= 500
    assert posted.status_code < 500, posted.text
    decoded = strict_json(body)
    allowed = {-32700} if decoded is ABSENT else expected("legacy", decoded)
    if posted.status_code == 202:
        assert posted.content == b""
        if allowed != {202}:
            assert isinstance(decoded, dict) and is_id(decoded.get("id")), (decoded, "answered on the stream")
            answer = check_response(stream.answer(decoded["id"]))
            assert answer in allowed, (decoded, answer)
    else:  # refused on the POST: an error that answers no request
        assert posted.status_code in (400, 404), posted.text
        answer = check_response(posted.json())
        assert posted.json()["id"] is None and answer in allowed, (body, posted.text)
    assert not [m for m in stream.unmatched if "error" in m], "an error without an id went to the stream"


def test_the_suite_reports_its_counts(record_property: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """Runs last in this module: the counts of every example above."""
    record_property("inputs_tried", TALLY.inputs)
    record_property("server_errors_seen", TALLY.server_errors)
    with capsys.disabled():
        print("\n" + TALLY.line())
    assert TALLY.server_errors == 0
    assert TALLY.inputs > 0
