"""The SSRF holes that were found, each on the real client it went through, with the default policy:
the target is refused naming the policy, and nothing is connected to (``outbound`` records every attempt)."""

from __future__ import annotations

from typing import Any

import pytest

from ledgergate.application.errors import ToolCallError
from ledgergate.infrastructure.upstream.http_client import HttpUpstreamClient, UpstreamTransportError
from ledgergate.infrastructure.upstream.mcp_client import McpUpstreamConnector, UpstreamUnavailableError, auth_headers
from ledgergate.infrastructure.upstream.rest_tool import RestToolCaller
from tests.application.fakes import FakeCipher
from tests.support.outbound import Outbound, outbound_fixture  # noqa: F401 - the fixture

POLICY = "outbound connection policy"
MAPPED_METADATA = [
    "http://[::ffff:169.254.169.254]/latest/meta-data",
    "http://[::ffff:a9fe:a9fe]/latest/meta-data",
    "http://[0:0:0:0:0:ffff:a9fe:a9fe]/latest/meta-data",
    "http://[::169.254.169.254]/latest/meta-data",
]
UPSTREAM_TARGETS = {
    "http://169.254.169.254/mcp": "169.254.169.254",
    "http://[fe80::1]/mcp": "fe80::1",
    "http://100.100.100.200/mcp": "100.100.100.200",
    "http://2852039166/mcp": "169.254.169.254",
}


def rest_tool(url: str) -> dict[str, Any]:
    integration = {"method": "GET", "url": url, "headers": {}, "query": {}, "body": None, "timeout_s": 2.0}
    return {"name": "t", "input_schema": {"type": "object"}, "integration": integration | {"auth": {"type": "none"}}}


@pytest.mark.parametrize("url", MAPPED_METADATA)
async def test_a_rest_tool_url_with_a_mapped_or_compatible_ipv6_metadata_literal_is_refused_unconnected(
    url: str, outbound: Outbound
) -> None:
    caller = RestToolCaller(FakeCipher())
    try:
        with pytest.raises(ToolCallError, match=POLICY):
            await caller.call("acme", rest_tool(url), {})
    finally:
        await caller.close()
    assert outbound.to("169.254.169.254") == []


@pytest.mark.parametrize("transport", ["streamable_http", "sse"])
@pytest.mark.parametrize("url", list(UPSTREAM_TARGETS))
async def test_an_upstream_url_of_a_metadata_or_link_local_address_is_refused_unconnected(
    url: str, transport: str, outbound: Outbound
) -> None:
    spec = {"name": "u", "transport": transport, "url": url, "timeout_s": 5}
    with pytest.raises(UpstreamUnavailableError, match=POLICY):
        await McpUpstreamConnector().discover(spec)
    assert outbound.to(UPSTREAM_TARGETS[url]) == []


@pytest.mark.parametrize("url", list(UPSTREAM_TARGETS))
async def test_a_forwarded_call_to_a_metadata_or_link_local_upstream_is_refused_unconnected(
    url: str, outbound: Outbound
) -> None:
    client = HttpUpstreamClient()
    try:
        with pytest.raises(UpstreamTransportError, match=POLICY):
            await client.negotiate(url, {})
    finally:
        await client.close()
    assert outbound.to(UPSTREAM_TARGETS[url]) == []


def oauth_spec(token_url: str) -> dict[str, Any]:
    auth = {"type": "oauth_client_credentials", "token_url": token_url, "client_id": "c", "client_secret": "s"}
    return {"name": "u", "transport": "streamable_http", "url": "http://127.0.0.1:9/mcp", "auth": auth, "timeout_s": 5}


@pytest.mark.parametrize("token_url", list(UPSTREAM_TARGETS))
async def test_an_oauth_token_url_of_a_metadata_or_link_local_address_is_refused_unconnected(
    token_url: str, outbound: Outbound
) -> None:
    with pytest.raises(UpstreamUnavailableError, match=POLICY):
        await McpUpstreamConnector().discover(oauth_spec(token_url))
    with pytest.raises(Exception, match=POLICY):  # the forwarder's own fetch of the upstream's token
        await auth_headers(oauth_spec(token_url))
    assert outbound.to(UPSTREAM_TARGETS[token_url]) == []
    assert outbound.attempts == []  # not even the upstream itself: its credentials could not be had
