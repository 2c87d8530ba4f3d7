"""The outbound policy through the REST API and MCP of the app in process: a refused literal in an
upstream's URL or token URL is a 422 ``egress-refused`` problem before any connection; a name that
resolves to a refused address fails registration with 502 naming the policy; a REST tool call to a
refused target is an ``isError`` result naming it. ``outbound`` proves nothing was connected to."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from ledgergate.api.app import create_app
from ledgergate.api.bootstrap import first_start
from ledgergate.api.runtime import build_runtime
from ledgergate.infrastructure.network.egress import EgressGuard
from tests.api.conftest import Api
from tests.api.test_mcp_protocol import modern, result, wait_hot, write
from tests.conftest import make_settings
from tests.e2e.test_upstreams import Upstream
from tests.support.echo import echo_service
from tests.support.outbound import Outbound, TableResolver, outbound_fixture  # noqa: F401 - the fixture

POLICY = "outbound connection policy"
PROBLEM = "urn:ledgergate:problem:egress-refused"
REFUSED_URLS = {
    "http://169.254.169.254/mcp": "169.254.169.254",
    "http://[fe80::1]/mcp": "fe80::1",
    "http://100.100.100.200/mcp": "100.100.100.200",
    "http://2852039166/mcp": "169.254.169.254",
    "http://[::ffff:169.254.169.254]/mcp": "169.254.169.254",
    "http://[fe80::1%25eth0]:8080/mcp": "fe80::1",
    "http://metadata.google.internal/computeMetadata/v1/": "169.254.169.254",
}
NAMES = {"rebind.test": ["169.254.169.254"], "loop.test": ["127.0.0.1"], "localhost": ["127.0.0.1"]}


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """The policy does not touch storage: SQLite alone (the registry's storage contract runs on both elsewhere)."""
    return f"sqlite:///{tmp_path / 'ledgergate.db'}"


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    server = Upstream("http", "eg-api").start()
    yield server
    server.stop()


@contextmanager
def serving(data_dir: Path, database_url: str, **env: str) -> Iterator[Api]:
    """The app in process with ``env`` settings; names resolve through the test's table."""
    settings = make_settings(data_dir, database_url, **env)
    runtime = build_runtime(settings)
    runtime.egress = EgressGuard(runtime.egress.policy, TableResolver(NAMES))
    started = first_start(runtime)
    assert started.token is not None
    try:
        with TestClient(create_app(settings, runtime=runtime)) as client:
            yield Api(http=client, token=started.token)
    finally:
        runtime.close()


@pytest.fixture
def gateway(tmp_path: Path, database_url: str) -> Iterator[Api]:
    with serving(tmp_path / "data", database_url) as api:
        yield api


def register(api: Api, url: str, transport: str = "streamable_http", **extra: Any) -> Any:
    body = {"name": "up", "transport": transport, "url": url, "timeout_s": 10, **extra}
    return api.call("POST", "/v1/tenants/default/upstreams", json=body)


def upstream_names(api: Api) -> list[str]:
    response = api.call("GET", "/v1/tenants/default/upstreams")
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()["items"]]


def oauth(token_url: str) -> dict[str, Any]:
    return {"type": "oauth_client_credentials", "token_url": token_url, "client_id": "c", "client_secret": "s"}


@pytest.mark.parametrize("transport", ["streamable_http", "sse"])
@pytest.mark.parametrize("url", list(REFUSED_URLS))
def test_registering_an_upstream_at_a_refused_address_answers_422_and_connects_nowhere(
    gateway: Api, outbound: Outbound, url: str, transport: str
) -> None:
    response = register(gateway, url, transport)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert (problem["type"], problem["field"]) == (PROBLEM, "url")
    assert POLICY in problem["detail"]
    assert outbound.to(REFUSED_URLS[url]) == [] and outbound.non_loopback() == []
    assert upstream_names(gateway) == []


@pytest.mark.parametrize("token_url", list(REFUSED_URLS))
def test_registering_an_upstream_whose_token_url_is_refused_answers_422_and_connects_nowhere(
    gateway: Api, outbound: Outbound, upstream: Upstream, token_url: str
) -> None:
    response = register(gateway, upstream.url, auth=oauth(token_url))
    assert response.status_code == 422, response.text
    problem = response.json()
    assert (problem["type"], problem["field"]) == (PROBLEM, "auth.token_url")
    assert outbound.to(REFUSED_URLS[token_url]) == [] and outbound.to("127.0.0.1", upstream.port) == []


def test_changing_an_upstreams_url_or_token_url_to_a_refused_address_answers_422_and_changes_nothing(
    gateway: Api, outbound: Outbound, upstream: Upstream
) -> None:
    created = register(gateway, upstream.url)
    assert created.status_code == 201, created.text
    path = f"/v1/tenants/default/upstreams/{created.json()['id']}"
    before = gateway.call("GET", path, params={"min_position": created.json()["position"]}).json()
    for body in ({"url": "http://[::ffff:a9fe:a9fe]/mcp"}, {"auth": oauth("http://0xa9.0xfe.0xa9.0xfe/token")}):
        response = gateway.call("PATCH", path, json=body)
        assert response.status_code == 422, response.text
        assert response.json()["type"] == PROBLEM
    assert gateway.call("GET", path).json() == before
    assert outbound.to("169.254.169.254") == []


def test_an_upstream_whose_name_resolves_to_a_metadata_address_fails_registration_with_502_naming_the_policy(
    gateway: Api, outbound: Outbound
) -> None:
    response = register(gateway, "http://rebind.test:8080/mcp")
    assert response.status_code == 502, response.text
    assert POLICY in response.json()["detail"]
    assert outbound.to("169.254.169.254") == [] and outbound.non_loopback() == []
    assert upstream_names(gateway) == []


def test_loopback_upstreams_are_refused_when_the_setting_says_so(
    tmp_path: Path, database_url: str, outbound: Outbound, upstream: Upstream
) -> None:
    with serving(tmp_path / "strict", database_url, LEDGERGATE_SSRF_ALLOW_LOOPBACK="false") as api:
        literal = register(api, upstream.url)
        assert literal.status_code == 422, literal.text
        assert "LEDGERGATE_SSRF_ALLOW_LOOPBACK=false" in literal.json()["detail"]
        named = register(api, f"http://loop.test:{upstream.port}/mcp")
        assert named.status_code == 502, named.text
        assert "LEDGERGATE_SSRF_ALLOW_LOOPBACK=false" in named.json()["detail"]
    assert outbound.to("127.0.0.1", upstream.port) == []


def test_a_listed_host_is_connected_to_even_when_its_class_is_refused(
    tmp_path: Path, database_url: str, outbound: Outbound, upstream: Upstream
) -> None:
    allowed = {"LEDGERGATE_SSRF_ALLOW_LOOPBACK": "false", "LEDGERGATE_SSRF_ALLOWED_HOSTS": "loop.test, 127.0.0.1"}
    with serving(tmp_path / "listed", database_url, **allowed) as api:
        response = register(api, f"http://loop.test:{upstream.port}/mcp")
        assert response.status_code == 502, response.text  # reached: the SDK server refuses that Host (421)
        assert POLICY not in response.json()["detail"]
        response = register(api, upstream.url)
        assert response.status_code == 201, response.text
    assert outbound.to("127.0.0.1", upstream.port) != []


def test_a_rest_tool_call_to_a_refused_target_is_an_is_error_result_naming_the_policy(
    tmp_path: Path, database_url: str, outbound: Outbound
) -> None:
    with echo_service() as echo, serving(tmp_path / "d", database_url, LEDGERGATE_SSRF_ALLOW_LOOPBACK="false") as api:
        tools = {
            "local": echo + "/x",
            "mapped": "http://[::ffff:169.254.169.254]/latest/meta-data",
            "rebound": "http://rebind.test/latest/meta-data",
        }
        for name, url in tools.items():
            body = {"name": name, "input_schema": {"type": "object"}, "integration": {"method": "GET", "url": url}}
            write(api, "POST", "/v1/tenants/default/tools", body)
        for name, setting in (
            ("local", "LEDGERGATE_SSRF_ALLOW_LOOPBACK=false"),
            ("mapped", "never"),
            ("rebound", "never"),
        ):
            answer = result(modern(api, "tools/call", {"name": name, "arguments": {}}))
            assert answer["isError"] is True, answer
            text = answer["content"][0]["text"]
            assert POLICY in text and setting.split("=")[0] in text, text
    assert outbound.non_loopback() == []
    assert [a for a in outbound.attempts if a.port == int(echo.rsplit(":", 1)[1])] == []


def test_a_forwarded_call_to_an_upstream_whose_name_now_resolves_to_metadata_is_an_is_error_naming_the_policy(
    gateway: Api, outbound: Outbound, upstream: Upstream
) -> None:
    created = register(gateway, f"http://localhost:{upstream.port}/mcp")
    assert created.status_code == 201, created.text
    wait_hot(gateway, created.json()["position"])
    NAMES["localhost"] = ["169.254.169.254"]  # the tenant's DNS rebinds the name after registration
    try:
        answer = result(modern(gateway, "tools/call", {"name": "up__echo", "arguments": {"text": "hi"}}))
    finally:
        NAMES["localhost"] = ["127.0.0.1"]
    assert answer["isError"] is True, answer
    assert POLICY in answer["content"][0]["text"], answer
    assert outbound.to("169.254.169.254") == [] and outbound.non_loopback() == []
