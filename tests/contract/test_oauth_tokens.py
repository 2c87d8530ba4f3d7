"""OAuth client credentials tokens of upstreams, against a real token endpoint on loopback: one token per
credentials is shared by every connection until shortly before it expires, a refused one is fetched again,
concurrent fetches share one request, and a token fetched through one outbound policy stays with it."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import pytest

from ledgergate.application.ports import UpstreamUnavailableError
from ledgergate.domain.egress import EgressPolicy
from ledgergate.infrastructure.network.egress import EgressGuard
from ledgergate.infrastructure.upstream.mcp_client import auth_headers


class Issuer:
    """A token endpoint: ``lifetime`` is the ``expires_in`` it gives (None: none); ``body`` overrides its answer."""

    def __init__(self) -> None:
        self.grants: list[dict[str, str]] = []
        self.lifetime: float | None = 3600
        self.body: bytes | None = None
        self.delay_s = 0.0
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                form = dict(parse_qsl(self.rfile.read(int(self.headers["Content-Length"])).decode()))
                issuer.grants.append(form)
                time.sleep(issuer.delay_s)
                answer: dict[str, Any] = {"access_token": f"issued-{len(issuer.grants)}", "token_type": "Bearer"}
                if issuer.lifetime is not None:
                    answer["expires_in"] = issuer.lifetime
                body = issuer.body if issuer.body is not None else json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/token"

    def spec(self, **auth: str) -> dict[str, Any]:
        given = {"type": "oauth_client_credentials", "token_url": self.url, "client_id": "gw", "client_secret": "s"}
        return {"name": "u", "transport": "streamable_http", "url": "http://127.0.0.1:9/mcp", "timeout_s": 5} | {
            "auth": given | auth
        }


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    issuer = Issuer()
    threading.Thread(target=issuer.server.serve_forever, daemon=True).start()
    yield issuer
    issuer.server.shutdown()
    issuer.server.server_close()


def guard() -> EgressGuard:
    return EgressGuard(EgressPolicy())


def test_one_token_serves_every_connection_with_the_same_credentials(issuer: Issuer) -> None:
    egress = guard()

    async def run() -> list[dict[str, str]]:
        return [await auth_headers(issuer.spec(), egress) for _ in range(5)]

    first = asyncio.run(run())
    again = asyncio.run(run())  # another event loop of the same worker (discovery runs in one)
    assert first == again == [{"Authorization": "Bearer issued-1"}] * 5
    assert len(issuer.grants) == 1
    other_scope = asyncio.run(auth_headers(issuer.spec(scope="admin"), egress))
    other_secret = asyncio.run(auth_headers(issuer.spec(client_secret="t"), egress))
    assert other_scope == {"Authorization": "Bearer issued-2"}
    assert other_secret == {"Authorization": "Bearer issued-3"}
    assert issuer.grants[1]["scope"] == "admin" and issuer.grants[2]["client_secret"] == "t"


def test_a_token_is_fetched_again_shortly_before_the_issuer_says_it_expires(issuer: Issuer) -> None:
    egress = guard()
    issuer.lifetime = 0.5  # kept 0.45 s (a tenth of its lifetime early)
    assert asyncio.run(auth_headers(issuer.spec(), egress)) == {"Authorization": "Bearer issued-1"}
    assert asyncio.run(auth_headers(issuer.spec(), egress)) == {"Authorization": "Bearer issued-1"}
    time.sleep(0.5)
    assert asyncio.run(auth_headers(issuer.spec(), egress)) == {"Authorization": "Bearer issued-2"}
    issuer.lifetime = None  # no expires_in: kept for the default lifetime
    time.sleep(0.5)
    assert asyncio.run(auth_headers(issuer.spec(), egress)) == {"Authorization": "Bearer issued-3"}
    assert asyncio.run(auth_headers(issuer.spec(), egress)) == {"Authorization": "Bearer issued-3"}


def test_a_refused_token_is_fetched_again(issuer: Issuer) -> None:
    egress = guard()

    async def run() -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
        kept = await auth_headers(issuer.spec(), egress)
        fresh = await auth_headers(issuer.spec(), egress, fresh=True)
        return kept, fresh, await auth_headers(issuer.spec(), egress)

    assert asyncio.run(run()) == (
        {"Authorization": "Bearer issued-1"},
        {"Authorization": "Bearer issued-2"},
        {"Authorization": "Bearer issued-2"},
    )


def test_concurrent_fetches_of_the_same_credentials_share_one_request(issuer: Issuer) -> None:
    issuer.delay_s = 0.2
    egress = guard()

    async def run() -> list[dict[str, str]]:
        return await asyncio.gather(*(auth_headers(issuer.spec(), egress) for _ in range(20)))

    assert asyncio.run(run()) == [{"Authorization": "Bearer issued-1"}] * 20
    assert len(issuer.grants) == 1


def test_a_token_stays_with_the_outbound_policy_it_was_fetched_through(issuer: Issuer) -> None:
    asyncio.run(auth_headers(issuer.spec(), guard()))
    refusing = EgressGuard(EgressPolicy(allow_loopback=False))
    with pytest.raises(UpstreamUnavailableError, match="loopback"):
        asyncio.run(auth_headers(issuer.spec(), refusing))
    assert len(issuer.grants) == 1


@pytest.mark.parametrize(
    "body",
    [b'{"token_type": "Bearer"}', b'{"access_token": ""}', b'{"access_token": 7}', b"not json", b'["x"]'],
)
def test_an_answer_without_a_token_is_a_clear_error_and_nothing_is_kept(issuer: Issuer, body: bytes) -> None:
    egress = guard()
    issuer.body = body
    with pytest.raises(UpstreamUnavailableError, match="answered HTTP 200 with no token"):
        asyncio.run(auth_headers(issuer.spec(), egress))
    issuer.body = None
    assert asyncio.run(auth_headers(issuer.spec(), egress)) == {"Authorization": "Bearer issued-2"}
