"""The outbound policy over every path that connects on a tenant's behalf x every form a target can take.

Paths: the REST tool caller, the aiohttp upstream client (forwarded calls), the SDK connector (discovery),
health probes, list_changed watches and pooled SDK calls, over streamable HTTP and SSE, and OAuth token
fetches. Forms: IPv4-mapped/compatible/NAT64 IPv6, decimal/octal/hex IPv4, zone ids, metadata addresses
and names, unspecified/multicast/broadcast/reserved, names a tenant's DNS answers with link-local
addresses (a test resolver is the guard's resolver port), and loopback and private targets under both
settings. Loopback targets are real SDK servers, so an allowed target must really work.

``outbound`` records every connection attempt of the process and refuses any that is not loopback before
it is made. A refused case must make no attempt at all; an allowed one must reach (or attempt) its target.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote, unquote

import pytest

from ledgergate.domain.egress import EgressPolicy
from ledgergate.infrastructure.network.egress import EgressGuard
from ledgergate.infrastructure.upstream.http_client import HttpUpstreamClient, UpstreamTransportError
from ledgergate.infrastructure.upstream.mcp_client import (
    McpUpstreamConnector,
    UpstreamPool,
    UpstreamUnavailableError,
    auth_headers,
    probe,
    watch,
)
from ledgergate.infrastructure.upstream.rest_tool import RestToolCaller
from tests.application.fakes import FakeCipher
from tests.e2e.test_upstreams import Upstream
from tests.support.outbound import Outbound, TableResolver, outbound_fixture, report  # noqa: F401 - the fixture

pytestmark = pytest.mark.slow
POLICY = "outbound connection policy"
ALWAYS, LOOPBACK, PRIVATE = "always refused", "loopback", "private"
METADATA_V4 = "169.254.169.254"


@dataclass(frozen=True)
class Form:
    host: str  # as it stands in the URL
    kind: str  # ALWAYS, LOOPBACK or PRIVATE
    reaches: tuple[str, ...]  # the addresses a connection would reach


def form(host: str, kind: str, *reaches: str) -> Form:
    return Form(host, kind, reaches)


#: what the tenant's DNS (the test resolver) answers
NAMES = {
    "rebind.test": [METADATA_V4],
    "linklocal.test": ["169.254.10.20"],
    "linklocal6.test": ["fe80::1%2"],
    "mapped.test": ["::ffff:169.254.169.254"],
    "nat64.test": ["64:ff9b::a9fe:a9fe"],
    "mixed.test": ["127.0.0.1", METADATA_V4],  # one good address does not save a host with a bad one
    "metadata6.test": ["fd00:ec2::254"],
    "loop.test": ["127.0.0.1"],
    "private.test": ["10.20.30.40"],
    "cgnat.test": ["100.64.1.2"],
}
FORMS = [
    # metadata, link-local and the IPv6 forms that carry them
    form(METADATA_V4, ALWAYS, METADATA_V4),
    form("[::ffff:169.254.169.254]", ALWAYS, METADATA_V4),
    form("[::ffff:a9fe:a9fe]", ALWAYS, METADATA_V4),
    form("[0:0:0:0:0:ffff:a9fe:a9fe]", ALWAYS, METADATA_V4),
    form("[::169.254.169.254]", ALWAYS, METADATA_V4),
    form("[::ffff:0:a9fe:a9fe]", ALWAYS, METADATA_V4),
    form("[64:ff9b::a9fe:a9fe]", ALWAYS, METADATA_V4),
    form("[2002:a9fe:a9fe::1]", ALWAYS, METADATA_V4),
    form("100.100.100.200", ALWAYS, "100.100.100.200"),
    form("[::ffff:100.100.100.200]", ALWAYS, "100.100.100.200"),
    form("[fd00:ec2::254]", ALWAYS, "fd00:ec2::254"),
    form("169.254.1.1", ALWAYS, "169.254.1.1"),
    form("[fe80::1]", ALWAYS, "fe80::1"),
    form("[fe80::1%25eth0]", ALWAYS, "fe80::1"),
    form("[fe80::a9fe:a9fe%251]", ALWAYS, "fe80::a9fe:a9fe"),
    # IPv4 in the forms getaddrinfo reads
    form("2852039166", ALWAYS, METADATA_V4),
    form("0xa9fea9fe", ALWAYS, METADATA_V4),
    form("0xa9.0xfe.0xa9.0xfe", ALWAYS, METADATA_V4),
    form("0251.0376.0251.0376", ALWAYS, METADATA_V4),
    form("169.254.43518", ALWAYS, METADATA_V4),
    form("0251.16689662", ALWAYS, METADATA_V4),
    # names
    form("metadata.google.internal", ALWAYS),
    form("METADATA.google.internal.", ALWAYS),
    form("rebind.test", ALWAYS, METADATA_V4),
    form("linklocal.test", ALWAYS, "169.254.10.20"),
    form("linklocal6.test", ALWAYS, "fe80::1"),
    form("mapped.test", ALWAYS, METADATA_V4),
    form("nat64.test", ALWAYS, METADATA_V4),
    form("mixed.test", ALWAYS, "127.0.0.1", METADATA_V4),
    form("metadata6.test", ALWAYS, "fd00:ec2::254"),
    # what no connection should go to
    form("0.0.0.0", ALWAYS, "0.0.0.0"),
    form("0", ALWAYS, "0.0.0.0"),
    form("[::]", ALWAYS, "::"),
    form("224.0.0.1", ALWAYS, "224.0.0.1"),
    form("[ff02::1]", ALWAYS, "ff02::1"),
    form("255.255.255.255", ALWAYS, "255.255.255.255"),
    form("240.0.0.1", ALWAYS, "240.0.0.1"),
    form("192.0.2.10", ALWAYS, "192.0.2.10"),
    form("[2001:db8::1]", ALWAYS, "2001:db8::1"),
    # loopback: the real servers of this module
    form("127.0.0.1", LOOPBACK, "127.0.0.1"),
    form("[::ffff:127.0.0.1]", LOOPBACK, "127.0.0.1"),
    form("2130706433", LOOPBACK, "127.0.0.1"),
    form("127.1", LOOPBACK, "127.0.0.1"),
    form("0x7f.0.0.1", LOOPBACK, "127.0.0.1"),
    form("loop.test", LOOPBACK, "127.0.0.1"),
    form("[::1]", LOOPBACK, "::1"),
    # private ranges (an allowed one is attempted, and the test refuses the attempt before it is made)
    form("10.0.0.5", PRIVATE, "10.0.0.5"),
    form("167772165", PRIVATE, "10.0.0.5"),
    form("172.16.0.1", PRIVATE, "172.16.0.1"),
    form("192.168.1.1", PRIVATE, "192.168.1.1"),
    form("100.64.0.1", PRIVATE, "100.64.0.1"),
    form("[::ffff:10.0.0.5]", PRIVATE, "10.0.0.5"),
    form("[fd12:3456::1]", PRIVATE, "fd12:3456::1"),
    form("private.test", PRIVATE, "10.20.30.40"),
    form("cgnat.test", PRIVATE, "100.64.1.2"),
]
SETTINGS = {
    "default": EgressPolicy(),
    "strict": EgressPolicy(allow_loopback=False, allow_private=False),
}


def refused(kind: str, policy: EgressPolicy) -> bool:
    return (
        kind == ALWAYS
        or (kind == LOOPBACK and not policy.allow_loopback)
        or (kind == PRIVATE and not policy.allow_private)
    )


class _Small(BaseHTTPRequestHandler):
    """``POST /token``: an OAuth token; ``/to/<url>``: a 307 redirect to ``<url>``."""

    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.startswith("/to/"):
            self.send_response(307)
            self.send_header("Location", unquote(self.path[4:]))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = json.dumps({"access_token": "t0k3n", "token_type": "bearer", "expires_in": 300}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        return


@dataclass
class Servers:
    http: int
    sse: int
    small: int


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    http, sse = Upstream("http", "eg-http").start(), Upstream("sse", "eg-sse").start()
    small = ThreadingHTTPServer(("127.0.0.1", 0), _Small)
    threading.Thread(target=small.serve_forever, daemon=True).start()
    try:
        yield Servers(http.port, sse.port, int(small.server_address[1]))
    finally:
        small.shutdown()
        small.server_close()
        http.stop()
        sse.stop()


def upstream_spec(transport: str, host: str, servers: Servers, **extra: Any) -> dict[str, Any]:
    url = f"http://{host}:{servers.http}/mcp" if transport == "http" else f"http://{host}:{servers.sse}/sse"
    spec = {"id": "u-1", "name": "eg", "transport": "streamable_http" if transport == "http" else "sse"}
    return spec | {"url": url, "timeout_s": 10} | extra


def oauth(token_host: str, servers: Servers) -> dict[str, Any]:
    url = f"http://{token_host}:{servers.small}/token"
    return {"type": "oauth_client_credentials", "token_url": url, "client_id": "c", "client_secret": "s"}


Run = Callable[[EgressGuard, str, Servers], Awaitable[None]]


async def rest_tool(guard: EgressGuard, host: str, servers: Servers) -> None:
    caller = RestToolCaller(FakeCipher(), guard)
    integration = {"method": "POST", "url": f"http://{host}:{servers.small}/token", "headers": {}, "query": {}}
    tool = {"name": "t", "input_schema": {"type": "object"}, "integration": integration | {"timeout_s": 5.0}}
    try:
        result = await caller.call("acme", tool, {})
    finally:
        await caller.close()
    assert "t0k3n" in result["content"][0]["text"], result


async def forwarded_http(guard: EgressGuard, host: str, servers: Servers) -> None:
    client = HttpUpstreamClient(egress=guard)
    url = upstream_spec("http", host, servers)["url"]
    try:
        channel = await client.negotiate(url, {})
        result = await client.request(url, {}, channel, "tools/call", {"name": "echo", "arguments": {"text": "hi"}})
    finally:
        await client.close()
    assert result["content"][0]["text"] == "hi"


def discovery(transport: str) -> Run:
    async def run(guard: EgressGuard, host: str, servers: Servers) -> None:
        catalog = await McpUpstreamConnector(guard).discover(upstream_spec(transport, host, servers))
        assert {t["name"] for t in catalog.tools} >= {"echo"}

    return run


def health_probe(transport: str) -> Run:
    async def run(guard: EgressGuard, host: str, servers: Servers) -> None:
        reachable, detail, _ = await probe(upstream_spec(transport, host, servers), guard)
        assert reachable, detail

    return run


def list_changed_watch(transport: str) -> Run:
    async def run(guard: EgressGuard, host: str, servers: Servers) -> None:
        stop = asyncio.Event()
        stop.set()  # connect, then leave at once

        async def changed() -> None:
            return None

        async with asyncio.timeout(20):
            await watch(upstream_spec(transport, host, servers), changed, stop, guard)

    return run


def pooled_call(transport: str) -> Run:
    async def run(guard: EgressGuard, host: str, servers: Servers) -> None:
        pool = UpstreamPool(egress=guard)
        try:
            result = await pool.call_tool(upstream_spec(transport, host, servers), 1, "echo", {"text": "hi"})
        finally:
            await pool.close()
        assert result["content"][0]["text"] == "hi"

    return run


async def token_fetch(guard: EgressGuard, host: str, servers: Servers) -> None:
    """A request to the token endpoint (``fresh``: not the token kept from an earlier one)."""
    headers = await auth_headers({"auth": oauth(host, servers), "timeout_s": 5}, guard, fresh=True)
    assert headers == {"Authorization": "Bearer t0k3n"}


async def discovery_with_oauth(guard: EgressGuard, host: str, servers: Servers) -> None:
    """The upstream is fine; only its token URL takes the form under test."""
    spec = upstream_spec("http", "127.0.0.1", servers, auth=oauth(host, servers))
    catalog = await McpUpstreamConnector(guard).discover(spec)
    assert catalog.tools


PATHS: dict[str, Run] = {
    "rest tool call": rest_tool,
    "forwarded call (aiohttp, streamable HTTP)": forwarded_http,
    "discovery (SDK, streamable HTTP)": discovery("http"),
    "discovery (SDK, SSE)": discovery("sse"),
    "health probe (SDK, streamable HTTP)": health_probe("http"),
    "health probe (SDK, SSE)": health_probe("sse"),
    "list_changed watch (SDK, streamable HTTP)": list_changed_watch("http"),
    "list_changed watch (SDK, SSE)": list_changed_watch("sse"),
    "pooled call (SDK, streamable HTTP)": pooled_call("http"),
    "pooled call (SDK, SSE)": pooled_call("sse"),
    "OAuth token fetch": token_fetch,
    "discovery with an OAuth token URL": discovery_with_oauth,
}


@dataclass
class Tally:
    cases: int = 0
    refused_attempted: int = 0
    wrongly_allowed: int = 0
    wrongly_refused: int = 0
    failures: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def tally(request: pytest.FixtureRequest) -> Iterator[Tally]:
    counts = Tally()
    yield counts
    report(
        request,
        f"egress policy: {counts.cases} cases tried, connections attempted to refused targets: "
        f"{counts.refused_attempted}, requests wrongly allowed: {counts.wrongly_allowed}, "
        f"allowed targets wrongly refused: {counts.wrongly_refused}",
    )


def reached(outbound: Outbound, before: int) -> set[str]:
    out = set()
    for attempt in outbound.attempts[before:]:
        address = ipaddress.ip_address(attempt.address.split("%")[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        out.add(str(address))
    return out


async def run_case(run: Run, guard: EgressGuard, target: Form, servers: Servers, outbound: Outbound) -> str | None:
    """None when the case behaved; else what went wrong."""
    before = len(outbound.attempts)
    try:
        await run(guard, target.host, servers)
        error = None
    except Exception as exc:  # the outcome under test: any failure is classified below
        error = f"{exc.__class__.__name__}: {exc}"
    attempted = reached(outbound, before)
    if refused(target.kind, guard.policy):
        if attempted:
            return f"refused target {target.host} was connected to: {sorted(attempted)}"
        if error is None or POLICY not in error:
            return f"refused target {target.host} did not fail naming the policy: {error}"
        return None
    if error is not None and POLICY in error:
        return f"allowed target {target.host} was refused: {error}"
    if target.host == "127.0.0.1" and error is not None:  # other spellings meet the SDK server's Host check (421)
        return f"allowed loopback target {target.host} did not work: {error}"
    if not attempted & set(target.reaches):
        return f"allowed target {target.host} was never attempted (attempts: {sorted(attempted)}; {error})"
    return None


@pytest.mark.parametrize("setting", list(SETTINGS))
@pytest.mark.parametrize("path", list(PATHS))
async def test_every_address_form_is_decided_by_the_policy_on_every_outbound_path(
    path: str, setting: str, servers: Servers, outbound: Outbound, tally: Tally
) -> None:
    guard = EgressGuard(SETTINGS[setting], TableResolver(NAMES))
    problems = []
    for target in FORMS:
        problem = await run_case(PATHS[path], guard, target, servers, outbound)
        tally.cases += 1
        if problem is not None:
            problems.append(problem)
            tally.failures.append(f"{path} [{setting}]: {problem}")
            if "was connected to" in problem:
                tally.refused_attempted += 1
            elif refused(target.kind, guard.policy):
                tally.wrongly_allowed += 1
            else:
                tally.wrongly_refused += 1
    assert problems == []


REDIRECTS = [
    "http://169.254.169.254/mcp",
    "http://[::ffff:a9fe:a9fe]/mcp",
    "http://rebind.test/mcp",
    "http://2852039166/",
]


def hop_to(target: str, servers: Servers) -> str:
    return f"http://127.0.0.1:{servers.small}/to/{quote(target, safe='')}"


async def test_a_redirect_to_a_refused_target_is_refused_at_its_hop_or_not_followed(
    servers: Servers, outbound: Outbound, tally: Tally
) -> None:
    guard = EgressGuard(EgressPolicy(), TableResolver(NAMES))
    for target in REDIRECTS:
        hop = hop_to(target, servers)
        client = HttpUpstreamClient(egress=guard)  # aiohttp follows redirects: the hop meets the policy
        try:
            with pytest.raises(UpstreamTransportError, match=POLICY):
                await client.negotiate(hop, {})
        finally:
            await client.close()
        caller = RestToolCaller(FakeCipher(), guard)  # REST tools answer the redirect itself
        tool = {"name": "t", "input_schema": {"type": "object"}, "integration": {"method": "GET", "url": hop}}
        try:
            answer = await caller.call("acme", tool | {"integration": tool["integration"] | {"timeout_s": 5}}, {})
        finally:
            await caller.close()
        assert answer["isError"] is False and answer["content"][0]["text"] == ""
        with pytest.raises(UpstreamUnavailableError):  # the SDK follows only within the endpoint's origin
            await McpUpstreamConnector(guard).discover({"name": "r", "transport": "streamable_http", "url": hop})
        with pytest.raises(UpstreamUnavailableError, match="HTTP 307"):  # token requests follow no redirect
            await auth_headers({"auth": oauth("127.0.0.1", servers) | {"token_url": hop}, "timeout_s": 5}, guard)
        tally.cases += 4
    assert {attempt.port for attempt in outbound.attempts} == {servers.small}
    assert outbound.non_loopback() == []


async def test_a_redirect_to_an_allowed_target_is_followed(servers: Servers, outbound: Outbound) -> None:
    client = HttpUpstreamClient(egress=EgressGuard(EgressPolicy(), TableResolver(NAMES)))
    url = hop_to(f"http://127.0.0.1:{servers.http}/mcp", servers)
    try:
        channel = await client.negotiate(url, {})
        result = await client.request(url, {}, channel, "tools/call", {"name": "echo", "arguments": {"text": "via"}})
    finally:
        await client.close()
    assert result["content"][0]["text"] == "via"
    assert outbound.to("127.0.0.1", servers.http) != []


class Rebinding:
    """A tenant's DNS that answers loopback, then the metadata address, then loopback again..."""

    def __init__(self) -> None:
        self.answers = 0

    async def resolve(self, host: str, port: int) -> list[str]:
        self.answers += 1
        return ["127.0.0.1"] if self.answers % 2 else [METADATA_V4]


async def test_a_name_that_rebinds_is_checked_at_each_connection_and_its_checked_answer_is_the_one_used(
    servers: Servers, outbound: Outbound, tally: Tally
) -> None:
    resolver = Rebinding()
    guard = EgressGuard(EgressPolicy(), resolver)
    outcomes = []
    for _ in range(6):
        try:
            await (rest_tool if len(outcomes) < 4 else token_fetch)(guard, "flip.test", servers)
            outcomes.append("ok")
        except Exception as exc:  # the outcome under test
            outcomes.append("refused" if POLICY in str(exc) else f"other: {exc}")
        tally.cases += 1
    assert outcomes == ["ok", "refused"] * 3
    assert resolver.answers == 6  # one lookup per connection: nothing resolved twice, nothing unchecked
    assert outbound.to(METADATA_V4) == [] and outbound.non_loopback() == []


async def test_the_operators_exceptions_are_connected_to_whatever_their_class(
    servers: Servers, outbound: Outbound, tally: Tally
) -> None:
    names = {"loop.test": ["127.0.0.1"], "ops.test": ["10.9.1.1"], "far.test": ["10.10.0.1"]}
    policy = EgressPolicy.configured(False, False, ["loop.test", "10.9.0.0/16"])
    guard = EgressGuard(policy, TableResolver(names))
    await rest_tool(guard, "loop.test", servers)  # listed by name: works though loopback is refused
    for host, allowed in (("127.0.0.1", False), ("10.9.1.1", True), ("ops.test", True), ("far.test", False)):
        before = len(outbound.attempts)
        try:
            await rest_tool(guard, host, servers)
            error = ""
        except Exception as exc:  # the outcome under test
            error = str(exc)
        tally.cases += 1
        assert (POLICY not in error) is allowed, (host, error)
        assert bool(outbound.attempts[before:]) is allowed, (host, outbound.attempts[before:])
    assert {a.address for a in outbound.non_loopback()} == {"10.9.1.1"}  # attempted, and stopped by the test
