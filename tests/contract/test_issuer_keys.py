"""The external issuer's settings and key cache, with a fake of the port the keys are fetched through."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from ledgergate.infrastructure.auth.jwks import JwksCache, KeysUnavailableError
from ledgergate.infrastructure.settings import SettingsError, load_settings

ISSUER = "https://issuer.example.test"


def settings(**env: str) -> Any:
    return load_settings({"LEDGERGATE_OIDC_ISSUER": ISSUER, **env}, env_file="/nonexistent/.env")


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({}, "LEDGERGATE_OIDC_AUDIENCE"),
        ({"LEDGERGATE_OIDC_ISSUER": "http://issuer.example.test", "LEDGERGATE_OIDC_AUDIENCE": "a"}, "https"),
        ({"LEDGERGATE_OIDC_AUDIENCE": "a", "LEDGERGATE_OIDC_ALGORITHMS": "RS256,HS256"}, "HS256"),
        ({"LEDGERGATE_OIDC_AUDIENCE": "a", "LEDGERGATE_OIDC_ROLE_MAP": "ops=platform-admin"}, "platform-admin"),
        ({"LEDGERGATE_OIDC_AUDIENCE": "a", "LEDGERGATE_OIDC_ROLE_MAP": "no-equals-sign"}, "claim-value=role"),
    ],
)
def test_an_issuer_setting_that_cannot_work_stops_the_start_naming_it(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        settings(**env)


def test_without_an_issuer_there_are_no_issuer_settings() -> None:
    assert load_settings({}, env_file="/nonexistent/.env").oidc is None
    configured = settings(LEDGERGATE_OIDC_AUDIENCE="https://gw.example.test/mcp", LEDGERGATE_OIDC_ROLE_MAP="a=admin")
    assert configured.oidc.algorithms == ("RS256", "ES256") and configured.oidc.role_map == (("a", "admin"),)


class FakeFetcher:
    def __init__(self, documents: dict[str, Any]) -> None:
        self.documents = documents
        self.calls: list[str] = []

    async def get_json(self, url: str) -> dict[str, Any]:
        self.calls.append(url)
        document = self.documents.get(url)
        if document is None:
            raise KeysUnavailableError(f"{url} is unreachable")
        return dict(document)


def ec_jwk(kid: str) -> dict[str, Any]:
    public = ec.generate_private_key(ec.SECP256R1()).public_key()
    return {**json.loads(jwt.algorithms.ECAlgorithm.to_jwk(public)), "kid": kid, "use": "sig"}


def test_keys_come_from_the_jwks_the_discovery_document_names_and_shared_secrets_are_ignored() -> None:
    fetcher = FakeFetcher(
        {
            ISSUER + "/.well-known/openid-configuration": {"issuer": ISSUER, "jwks_uri": ISSUER + "/keys"},
            ISSUER + "/keys": {"keys": [ec_jwk("a"), {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"}]},
        }
    )
    cache = JwksCache(ISSUER, fetcher)
    assert cache.needs_refresh("a")
    asyncio.run(cache.refresh())
    assert cache.key("a") is not None and cache.key("hmac") is None
    assert not cache.needs_refresh("a") and not cache.needs_refresh("hmac")  # asked again only later
    assert fetcher.calls == [ISSUER + "/.well-known/openid-configuration", ISSUER + "/keys"]


def test_a_discovery_document_of_another_issuer_is_refused() -> None:
    fetcher = FakeFetcher(
        {ISSUER + "/.well-known/openid-configuration": {"issuer": "https://evil.test", "jwks_uri": "x"}}
    )
    with pytest.raises(KeysUnavailableError, match="names issuer"):
        asyncio.run(JwksCache(ISSUER, fetcher).refresh())


def test_an_issuer_that_stops_answering_leaves_the_keys_it_gave_in_use() -> None:
    fetcher = FakeFetcher({ISSUER + "/keys": {"keys": [ec_jwk("a")]}})
    cache = JwksCache(ISSUER, fetcher, jwks_url=ISSUER + "/keys", cache_s=0, min_refresh_s=0)
    asyncio.run(cache.refresh())
    fetcher.documents.clear()
    asyncio.run(cache.refresh())  # fails, logged; the key stays
    assert cache.key("a") is not None
