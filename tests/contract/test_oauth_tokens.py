"""OAuth client credentials tokens of upstreams, against a real token endpoint on loopback: one token per
credentials is shared by every connection until shortly before it expires, a refused one is fetched again,
concurrent fetches share one request, and a token fetched through one outbound policy stays with it."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from ledgergate.application.ports import UpstreamUnavailableError
from ledgergate.domain.egress import EgressPolicy
from ledgergate.infrastructure.network.egress import EgressGuard
from ledgergate.infrastructure.upstream.mcp_client import McpUpstreamConnector, auth_headers, probe
from tests.support.token_issuer import TokenIssuer, issuing


def spec_of(issuer: TokenIssuer, **auth: str) -> dict[str, Any]:
    given = {"type": "oauth_client_credentials", "token_url": issuer.url, "client_id": "gw", "client_secret": "s"}
    return {"name": "u", "transport": "streamable_http", "url": "http://127.0.0.1:9/mcp", "timeout_s": 5} | {
        "auth": given | auth
    }


@pytest.fixture
def issuer() -> Iterator[TokenIssuer]:
    with issuing("gw", "s") as running:
        yield running


def guard() -> EgressGuard:
    return EgressGuard(EgressPolicy())


def test_one_token_serves_every_connection_with_the_same_credentials(issuer: TokenIssuer) -> None:
    egress = guard()

    async def run() -> list[dict[str, str]]:
        return [await auth_headers(spec_of(issuer), egress) for _ in range(5)]

    first = asyncio.run(run())
    again = asyncio.run(run())  # another event loop of the same worker (discovery runs in one)
    assert first == again == [{"Authorization": "Bearer issued-1"}] * 5
    assert len(issuer.grants) == 1
    other_scope = asyncio.run(auth_headers(spec_of(issuer, scope="admin"), egress))
    assert other_scope == {"Authorization": "Bearer issued-2"} and issuer.grants[1]["scope"] == "admin"
    with pytest.raises(UpstreamUnavailableError, match="HTTP 401"):  # another secret is asked for, not kept
        asyncio.run(auth_headers(spec_of(issuer, client_secret="wrong"), egress))
    assert issuer.grants[2]["client_secret"] == "wrong"
    assert asyncio.run(auth_headers(spec_of(issuer), egress)) == {"Authorization": "Bearer issued-1"}


def test_a_token_is_fetched_again_shortly_before_the_issuer_says_it_expires(issuer: TokenIssuer) -> None:
    egress = guard()
    issuer.lifetime = 2.0  # kept 1.8 s (a tenth of its lifetime early): room for a slow machine's second ask
    assert asyncio.run(auth_headers(spec_of(issuer), egress)) == {"Authorization": "Bearer issued-1"}
    assert asyncio.run(auth_headers(spec_of(issuer), egress)) == {"Authorization": "Bearer issued-1"}
    time.sleep(2.0)
    assert asyncio.run(auth_headers(spec_of(issuer), egress)) == {"Authorization": "Bearer issued-2"}
    issuer.lifetime = None  # no expires_in: kept for the default lifetime
    time.sleep(2.0)
    assert asyncio.run(auth_headers(spec_of(issuer), egress)) == {"Authorization": "Bearer issued-3"}
    assert asyncio.run(auth_headers(spec_of(issuer), egress)) == {"Authorization": "Bearer issued-3"}


def test_a_refused_token_is_fetched_again(issuer: TokenIssuer) -> None:
    egress = guard()

    async def run() -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
        kept = await auth_headers(spec_of(issuer), egress)
        fresh = await auth_headers(spec_of(issuer), egress, fresh=True)
        return kept, fresh, await auth_headers(spec_of(issuer), egress)

    assert asyncio.run(run()) == (
        {"Authorization": "Bearer issued-1"},
        {"Authorization": "Bearer issued-2"},
        {"Authorization": "Bearer issued-2"},
    )


def test_concurrent_fetches_of_the_same_credentials_share_one_request(issuer: TokenIssuer) -> None:
    issuer.delay_s = 0.2
    egress = guard()

    async def run() -> list[dict[str, str]]:
        return await asyncio.gather(*(auth_headers(spec_of(issuer), egress) for _ in range(20)))

    assert asyncio.run(run()) == [{"Authorization": "Bearer issued-1"}] * 20
    assert len(issuer.grants) == 1


def test_a_token_stays_with_the_outbound_policy_it_was_fetched_through(issuer: TokenIssuer) -> None:
    asyncio.run(auth_headers(spec_of(issuer), guard()))
    refusing = EgressGuard(EgressPolicy(allow_loopback=False))
    with pytest.raises(UpstreamUnavailableError, match="loopback"):
        asyncio.run(auth_headers(spec_of(issuer), refusing))
    assert len(issuer.grants) == 1


@pytest.mark.parametrize(
    "body",
    [b'{"token_type": "Bearer"}', b'{"access_token": ""}', b'{"access_token": 7}', b"not json", b'["x"]'],
)
def test_an_answer_without_a_token_is_a_clear_error_and_nothing_is_kept(issuer: TokenIssuer, body: bytes) -> None:
    egress = guard()
    issuer.body = body
    with pytest.raises(UpstreamUnavailableError, match="answered HTTP 200 with no token"):
        asyncio.run(auth_headers(spec_of(issuer), egress))
    issuer.body = None
    assert asyncio.run(auth_headers(spec_of(issuer), egress)) == {"Authorization": "Bearer issued-2"}


@pytest.fixture
def refusing_upstream() -> Iterator[str]:
    """An upstream that answers 401 to every request (its issuer revoked what it was given)."""

    class Refusing(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Bearer error="invalid_token"')
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Refusing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(("transport", "path"), [("streamable_http", "/mcp"), ("sse", "/sse")])
def test_a_connection_that_fails_drops_its_token_so_the_next_one_asks_for_another(
    issuer: TokenIssuer, refusing_upstream: str, transport: str, path: str
) -> None:
    egress = guard()
    spec = spec_of(issuer) | {"transport": transport, "url": refusing_upstream + path}
    first = asyncio.run(probe(spec, egress))
    assert first[0] is False
    with pytest.raises(UpstreamUnavailableError):
        asyncio.run(McpUpstreamConnector(egress).discover(spec))
    assert len(issuer.grants) == 2  # the probe's token was refused: discovery asked for another
    assert asyncio.run(auth_headers(spec, egress)) == {"Authorization": "Bearer issued-3"}
