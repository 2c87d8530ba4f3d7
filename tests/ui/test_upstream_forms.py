"""Registering an upstream from the admin UI over HTTP (in process, SQLite and PostgreSQL), against real
upstream MCP servers started by the tests: every transport, the discovery report, inline errors that write
nothing, and the roles and CSRF token the form needs."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from ledgergate.api.ui.upstream_forms import body_of
from tests.support.processes import ROOT, serving
from tests.ui.conftest import Ui

NEW = "/admin/t/default/upstreams/new"


def form(csrf: str, **fields: str) -> dict[str, str]:
    return {"csrf": csrf, "transport": "streamable_http", "auth_type": "none", "prefix_enabled": "on", **fields}


def upstreams(ui: Ui) -> list[dict[str, Any]]:
    return list(ui.rest("GET", "/v1/tenants/default/upstreams").json()["items"])


@pytest.mark.parametrize("transport", ["streamable_http", "sse"])
def test_an_admin_registers_an_http_upstream_and_sees_the_discovery_report(ui: Ui, transport: str) -> None:
    csrf = ui.sign_in(ui.admin)
    page = ui.client.get(NEW)
    assert page.status_code == 200 and 'id="upstream-form"' in page.text
    assert 'option value="stdio"' in page.text  # a platform admin may run a command
    with serving("tests.support.upstream_server", "http" if transport == "streamable_http" else "sse") as url:
        answer = ui.client.post(NEW, data=form(csrf, name="sdk", transport=transport, url=url, tags="demo"))
    assert answer.status_code == 200, answer.text
    assert 'id="refresh-report"' in answer.text and "<h2>Discovered</h2>" in answer.text
    assert "sdk__echo" in answer.text and "sdk__add" in answer.text
    assert 'id="health-history"' in answer.text
    [upstream] = upstreams(ui)
    assert upstream["transport"] == transport and upstream["tags"] == ["demo"]
    events = ui.rest("GET", f"/v1/audit?entity={upstream['id']}&min_position={upstream['position']}").json()["items"]
    assert events[0]["actor_token_id"]  # recorded with the signed-in token as actor


def test_a_platform_admin_registers_a_stdio_upstream(ui: Ui) -> None:
    csrf = ui.sign_in(ui.admin)
    fields = form(
        csrf,
        name="local",
        transport="stdio",
        command=sys.executable,
        args="-m\ntests.support.upstream_server\nstdio",
        env="GREETING=hello",
        cwd=str(ROOT),
    )
    answer = ui.client.post(NEW, data=fields)
    assert answer.status_code == 200, answer.text
    assert "local__echo" in answer.text
    [upstream] = upstreams(ui)
    assert upstream["command"] == sys.executable and upstream["args"][-1] == "stdio"


def test_a_refused_form_shows_the_problem_and_writes_nothing(ui: Ui) -> None:
    csrf = ui.sign_in(ui.admin)
    missing = ui.client.post(NEW, data=form(csrf, name="nourl", auth_type="bearer", auth_token="s3cret-token"))
    assert missing.status_code == 422 and 'id="problem"' in missing.text and "url" in missing.text
    assert 'value="nourl"' in missing.text and "s3cret-token" not in missing.text  # secrets are not sent back
    bad_number = ui.client.post(NEW, data=form(csrf, name="n", url="http://127.0.0.1:9/mcp", timeout_s="soon"))
    assert bad_number.status_code == 422 and 'id="error-timeout_s"' in bad_number.text
    bad_headers = ui.client.post(NEW, data=form(csrf, name="h", url="http://x/", auth_type="headers", auth_headers="x"))
    assert bad_headers.status_code == 422 and 'id="error-auth_headers"' in bad_headers.text
    with serving("tests.support.upstream_server") as url:
        pass  # started and stopped: nothing listens there any more
    gone = ui.client.post(NEW, data=form(csrf, name="gone", url=url))
    assert gone.status_code == 422 and "could not be discovered" in gone.text
    assert upstreams(ui) == []


def test_editors_viewers_and_forged_requests_are_refused(ui: Ui) -> None:
    fields = {"name": "x", "url": "http://127.0.0.1:9/mcp"}
    ui.sign_in(ui.admin)
    assert ui.client.post(NEW, data=form("forged", **fields)).status_code == 403
    for role in ("viewer", "editor"):
        csrf = ui.sign_in(ui.token(role))
        assert ui.client.get(NEW).status_code == 403
        assert 'id="new-upstream"' not in ui.client.get("/admin/t/default/upstreams").text
        assert ui.client.post(NEW, data=form(csrf, **fields)).status_code == 403
    csrf = ui.sign_in(ui.token("admin"))  # a tenant admin registers HTTP upstreams, never a command
    assert 'option value="stdio"' not in ui.client.get(NEW).text
    stdio = ui.client.post(NEW, data=form(csrf, name="cmd", transport="stdio", command="/bin/sh"))
    assert stdio.status_code == 403
    assert upstreams(ui) == []


def test_every_auth_kind_becomes_the_apis_auth_object() -> None:
    base = {"name": "u", "transport": "streamable_http", "url": "https://mcp.example.com/mcp"}
    assert body_of({**base, "auth_type": "none"})["auth"] == {"type": "none"}
    assert body_of({**base, "auth_type": "bearer", "auth_token": "t"})["auth"] == {"type": "bearer", "token": "t"}
    headers = body_of({**base, "auth_type": "headers", "auth_headers": "X-Key: one\nX-Other: two:three"})
    assert headers["auth"] == {"type": "headers", "headers": {"X-Key": "one", "X-Other": "two:three"}}
    oauth = {
        "auth_type": "oauth_client_credentials",
        "auth_token_url": "https://id.example.com/token",
        "auth_client_id": "c",
        "auth_client_secret": "s",
        "auth_scope": "",
    }
    assert body_of({**base, **oauth})["auth"] == {
        "type": "oauth_client_credentials",
        "token_url": "https://id.example.com/token",
        "client_id": "c",
        "client_secret": "s",
    }
    assert body_of({**base, "prefix_separator": "."})["prefix"] == {"enabled": False, "separator": "."}
