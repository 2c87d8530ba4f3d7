"""Access tokens of an external OpenID Connect issuer (a local one with its own keys), on a real gateway."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import httpx2
import jwt
import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.api.conftest import ServerProcess, start_server
from tests.support.mcp_http import modern
from tests.support.oidc_issuer import LocalIssuer, local_issuer

pytestmark = pytest.mark.slow

AUDIENCE = "https://gateway.example.test/mcp"
TOOL = {
    "name": "lookup",
    "input_schema": {"type": "object"},
    "integration": {"method": "GET", "url": "https://api.example.com/lookup"},
}


@dataclass
class Setup:
    server: ServerProcess
    issuer: LocalIssuer
    admin: str

    def rest(self, token: str, path: str = "/v1/tenants/acme/tools") -> httpx.Response:
        return httpx.get(self.server.url + path, headers={"Authorization": f"Bearer {token}"}, timeout=10)

    def mcp(self, token: str, method: str = "tools/list") -> httpx.Response:
        """A stateless (2026-07-28) MCP request."""
        with httpx.Client(timeout=10) as http:
            return modern(http, self.server.url, token, method)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    data = tmp_path_factory.mktemp("oidc") / "data"
    with local_issuer() as issuer:
        server = start_server(
            data,
            LEDGERGATE_OIDC_ISSUER=issuer.url,
            LEDGERGATE_OIDC_AUDIENCE=AUDIENCE,
            LEDGERGATE_OIDC_ROLE_MAP="mcp-users=client,auditors=viewer,ops=admin",
        )
        try:
            admin = (data / "admin-token").read_text().strip()
            headers = {"Authorization": f"Bearer {admin}"}
            assert httpx.post(server.url + "/v1/tenants", json={"name": "acme"}, headers=headers).status_code == 201
            created = httpx.post(server.url + "/v1/tenants/acme/tools", json=TOOL, headers=headers)
            assert created.status_code == 201, created.text
            position = created.json()["position"]
            httpx.get(f"{server.url}/v1/tenants/acme/tools?min_position={position}", headers=headers, timeout=10)
            yield Setup(server=server, issuer=issuer, admin=admin)
        finally:
            server.stop()


async def sdk_tool_names(setup: Setup, token: str, mode: str) -> list[str]:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=httpx2.Timeout(30))
    async with Client(streamable_http_client(setup.server.url + "/mcp", http_client=http), mode=mode) as client:
        return [tool.name for tool in (await client.list_tools()).tools]


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
def test_a_valid_issuer_token_lists_its_tenants_tools_with_the_official_client(
    setup: Setup, algorithm: str, mode: str
) -> None:
    token = setup.issuer.mint(AUDIENCE, algorithm=algorithm, tenant="acme", role=["mcp-users"])
    assert asyncio.run(sdk_tool_names(setup, token, mode)) == ["lookup"]


def test_a_valid_issuer_token_reads_rest_with_its_mapped_role_and_no_more(setup: Setup) -> None:
    viewer = setup.issuer.mint(AUDIENCE, tenant="acme", role=["mcp-users", "auditors"])  # the highest: viewer
    listed = setup.rest(viewer)
    assert listed.status_code == 200, listed.text
    assert [t["name"] for t in listed.json()["items"]] == ["lookup"]
    write = httpx.post(
        setup.server.url + "/v1/tenants/acme/tools",
        json={**TOOL, "name": "other"},
        headers={"Authorization": f"Bearer {viewer}"},
        timeout=10,
    )
    assert write.status_code == 403
    assert setup.rest(viewer, "/v1/tenants/default/tools").status_code == 403  # another tenant
    client = setup.issuer.mint(AUDIENCE, tenant="acme", role="mcp-users")
    assert setup.rest(client).status_code == 403  # REST reads need viewer


def test_the_gateways_own_tokens_keep_working_beside_the_issuers(setup: Setup) -> None:
    assert setup.rest(setup.admin).status_code == 200
    assert setup.mcp(setup.admin).status_code == 200


def hs256(claims: dict[str, object], secret: bytes) -> str:
    """An HS256 token signed with ``secret``, by hand: pyjwt refuses a PEM public key as an HMAC secret."""

    def part(value: bytes) -> str:
        return base64.urlsafe_b64encode(value).rstrip(b"=").decode()

    signing_input = part(b'{"alg":"HS256","kid":"rsa-1","typ":"JWT"}') + "." + part(json.dumps(claims).encode())
    return signing_input + "." + part(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())


def refused_tokens(issuer: LocalIssuer) -> dict[str, str]:
    now = int(time.time())
    valid = {"tenant": "acme", "role": "mcp-users"}
    claims = {"iss": issuer.url, "aud": AUDIENCE, "sub": "mallory", "exp": now + 600, **valid}
    public_pem = issuer.rsa_key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    return {
        "wrong audience": issuer.mint("https://another-resource.example.test/mcp", **valid),
        "wrong issuer": issuer.mint(AUDIENCE, iss="https://issuer.example.test", **valid),
        "expired": issuer.mint(AUDIENCE, exp=now - 3600, iat=now - 7200, nbf=now - 7200, **valid),
        "not yet valid": issuer.mint(AUDIENCE, nbf=now + 3600, **valid),
        "unknown kid": issuer.mint(AUDIENCE, kid="rotated-away", **valid),
        "HS256 with the public key as secret": hs256(claims, public_pem),  # the classic algorithm confusion
        "none": jwt.encode(claims, None, algorithm="none", headers={"kid": "rsa-1"}),
        "platform-admin asked for": issuer.mint(AUDIENCE, tenant="acme", role="platform-admin"),
        "no tenant": issuer.mint(AUDIENCE, role="mcp-users"),
    }


def test_tokens_the_issuer_did_not_mean_for_this_gateway_are_refused_with_401_on_rest_and_mcp(setup: Setup) -> None:
    for case, token in refused_tokens(setup.issuer).items():
        rest = setup.rest(token)
        assert rest.status_code == 401, (case, rest.text)
        assert rest.headers["content-type"].startswith("application/problem+json")
        mcp = setup.mcp(token)
        assert mcp.status_code == 401, (case, mcp.text)
        assert "resource_metadata=" in mcp.headers["www-authenticate"]


def test_the_metadata_names_the_configured_issuer_as_the_authorization_server(setup: Setup) -> None:
    for path in ("/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"):
        metadata = httpx.get(setup.server.url + path, timeout=10).json()
        assert metadata["authorization_servers"] == [setup.issuer.url]
    assert httpx.get(setup.server.url + "/.well-known/oauth-authorization-server", timeout=10).status_code == 404


def test_the_key_set_is_fetched_once_and_unknown_key_ids_do_not_make_it_fetched_again_and_again(
    setup: Setup,
) -> None:
    before = setup.issuer.fetches["/jwks"]
    for _ in range(5):
        assert setup.rest(setup.issuer.mint(AUDIENCE, tenant="acme", role="auditors")).status_code == 200
        assert setup.rest(setup.issuer.mint(AUDIENCE, kid="made-up", tenant="acme", role="auditors")).status_code == 401
    assert setup.issuer.fetches["/jwks"] - before <= 1
    assert setup.issuer.fetches["/.well-known/openid-configuration"] >= 1


def test_a_gateway_without_an_issuer_refuses_the_issuers_tokens(tmp_path: Path) -> None:
    with local_issuer() as issuer:
        server = start_server(tmp_path / "data")
        try:
            token = issuer.mint(AUDIENCE, tenant="default", role="admin")
            answer = httpx.get(server.url + "/v1/tenants/default/tools", headers={"Authorization": f"Bearer {token}"})
            assert answer.status_code == 401
            assert issuer.fetches == {}
        finally:
            server.stop()


def test_a_rest_request_fetches_the_issuers_keys_when_it_is_the_first_to_need_them(tmp_path: Path) -> None:
    with local_issuer() as issuer:
        server = start_server(tmp_path / "data", LEDGERGATE_OIDC_ISSUER=issuer.url, LEDGERGATE_OIDC_AUDIENCE=AUDIENCE)
        try:
            token = issuer.mint(AUDIENCE, tenant="default", role="viewer")
            answer = httpx.get(server.url + "/v1/tenants/default/tools", headers={"Authorization": f"Bearer {token}"})
            assert answer.status_code == 200, answer.text
            assert issuer.fetches["/jwks"] == 1
        finally:
            server.stop()
