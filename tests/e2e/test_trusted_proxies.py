"""Behind a TLS proxy: forwarded scheme and host are believed from trusted peers only, on a real ``serve``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import ServerProcess, start_server

pytestmark = pytest.mark.slow

X_FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "gw.example.com", "X-Forwarded-For": "203.0.113.9"}
FORWARDED = {"Forwarded": 'for=203.0.113.9;proto=https;host="gw.example.com"'}


@pytest.fixture(scope="module")
def trusting(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, str]]:
    """A gateway that trusts loopback as its proxy (the tests' requests come from 127.0.0.1)."""
    data = tmp_path_factory.mktemp("trusting") / "data"
    server = start_server(data, LEDGERGATE_TRUSTED_PROXIES="127.0.0.0/8, ::1")
    try:
        yield server, (data / "admin-token").read_text().strip()
    finally:
        server.stop()


@pytest.fixture(scope="module")
def untrusting(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, str]]:
    """A gateway with the default setting, and one that trusts only another network."""
    data = tmp_path_factory.mktemp("untrusting") / "data"
    server = start_server(data, LEDGERGATE_TRUSTED_PROXIES="10.0.0.0/8")
    try:
        yield server, (data / "admin-token").read_text().strip()
    finally:
        server.stop()


def metadata(server: ServerProcess, headers: dict[str, str]) -> dict[str, str]:
    answer = httpx.get(server.url + "/.well-known/oauth-protected-resource/mcp", headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def sign_in(server: ServerProcess, token: str, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(
        server.url + "/admin/login", data={"token": token}, headers=headers, follow_redirects=False, timeout=30
    )


@pytest.mark.parametrize("forwarded", [X_FORWARDED, FORWARDED], ids=["x-forwarded", "forwarded"])
def test_a_trusted_proxy_s_scheme_and_host_name_the_metadata_urls(
    trusting: tuple[ServerProcess, str], forwarded: dict[str, str]
) -> None:
    server, _ = trusting
    body = metadata(server, forwarded)
    assert body["resource"] == "https://gw.example.com/mcp"
    assert body["resource_documentation"] == "https://gw.example.com/docs"
    plain = metadata(server, {})
    assert plain["resource"] == server.url + "/mcp"  # no headers: the request as it came


def test_an_untrusted_peer_s_forwarded_headers_are_ignored(untrusting: tuple[ServerProcess, str]) -> None:
    server, _ = untrusting
    for forwarded in (X_FORWARDED, FORWARDED):
        assert metadata(server, forwarded)["resource"] == server.url + "/mcp"
    refused = httpx.get(server.url + "/mcp", headers=X_FORWARDED)
    assert "https://gw.example.com" not in refused.headers.get("www-authenticate", "")


def test_the_admin_cookie_is_secure_and_the_origin_https_only_through_a_trusted_proxy(
    trusting: tuple[ServerProcess, str], untrusting: tuple[ServerProcess, str]
) -> None:
    server, token = trusting
    through_proxy = {**X_FORWARDED, "Origin": "https://gw.example.com"}
    signed_in = sign_in(server, token, through_proxy)
    assert signed_in.status_code in (302, 303), signed_in.text
    assert "secure" in signed_in.headers["set-cookie"].lower().split("; ")
    plain = sign_in(server, token, {"Origin": server.url})
    assert plain.status_code in (302, 303) and "secure" not in plain.headers["set-cookie"].lower().split("; ")
    assert sign_in(server, token, {**X_FORWARDED, "Origin": "http://gw.example.com"}).status_code == 403

    other, other_token = untrusting
    spoofed = sign_in(other, other_token, {**X_FORWARDED, "Origin": other.url})
    assert spoofed.status_code in (302, 303), spoofed.text
    assert "secure" not in spoofed.headers["set-cookie"].lower().split("; ")  # a claim of https from anyone
    assert sign_in(other, other_token, through_proxy).status_code == 403


def test_an_invalid_network_stops_the_start_with_one_clear_message(tmp_path: Path) -> None:
    from ledgergate.infrastructure.settings import SettingsError, load_settings

    with pytest.raises(SettingsError, match="LEDGERGATE_TRUSTED_PROXIES: 'nginx' is not an address or a network"):
        load_settings({"LEDGERGATE_TRUSTED_PROXIES": "10.0.0.0/8,nginx"}, env_file=tmp_path / ".env")
    assert load_settings({}, env_file=tmp_path / ".env").trusted_proxies == ()
