"""The admin UI's sessions, CSRF and roles over HTTP, against the app in process (SQLite and PostgreSQL).

Every /admin route is declared here (``UI_ROUTES``) and probed: none opens with a bearer token, and
the session cookie opens nothing outside /admin.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from litestar.testing import TestClient

from ledgergate.api.app import create_app
from ledgergate.api.bootstrap import first_start
from ledgergate.api.runtime import build_runtime
from ledgergate.api.ui.sessions import COOKIE, SessionSigner
from ledgergate.infrastructure.settings import Settings
from tests.conftest import make_settings
from tests.ui.conftest import TOOL, Ui

IDS = {
    "tenant": "default",
    "plural": "tools",
    "item_id": "00000000-0000-0000-0000-000000000000",
    "action": "disable",
    "kind": "tools",
    "slug": "default",
}
#: Every route of the UI: ``public`` (no session needed), ``page`` (a GET that needs one), ``write`` (a POST
#: that needs one and its CSRF token).
UI_ROUTES = {
    ("GET", "/admin/login"): "public",
    ("POST", "/admin/login"): "public",
    ("GET", "/admin/static/{file_path}"): "public",
    ("HEAD", "/admin/static/{file_path}"): "public",
    ("GET", "/admin"): "page",
    ("GET", "/admin/tenants"): "page",
    ("GET", "/admin/audit"): "page",
    ("GET", "/admin/export"): "page",
    ("GET", "/admin/audit/stream"): "page",
    ("GET", "/admin/t/{tenant}/{plural}"): "page",
    ("GET", "/admin/t/{tenant}/{plural}/new"): "page",
    ("GET", "/admin/t/{tenant}/{plural}/{item_id}"): "page",
    ("GET", "/admin/t/{tenant}/{plural}/{item_id}/edit"): "page",
    ("GET", "/admin/import"): "page",
    ("GET", "/admin/playground"): "page",
    ("GET", "/admin/t/{tenant}/{plural}/{item_id}/history"): "page",
    ("POST", "/admin/logout"): "write",
    ("POST", "/admin/schema/check"): "write",
    ("POST", "/admin/import"): "write",
    ("POST", "/admin/import/verify"): "write",
    ("POST", "/admin/playground/{kind}"): "write",
    ("POST", "/admin/tenants/new"): "write",
    ("POST", "/admin/tenants/{slug}/{action}"): "write",
    ("POST", "/admin/t/{tenant}/{plural}/new"): "write",
    ("POST", "/admin/t/{tenant}/{plural}/check"): "write",
    ("POST", "/admin/t/{tenant}/{plural}/{item_id}/edit"): "write",
    ("POST", "/admin/t/{tenant}/{plural}/{item_id}/{action}"): "write",
}


def admin_routes() -> set[tuple[str, str]]:
    app = create_app(make_settings(Path("/nonexistent-never-opened")))
    return {
        (method, route.path_format)
        for route in app.routes
        for method in route.methods
        if route.path_format.startswith("/admin") and method != "OPTIONS"
    }


def test_every_admin_route_is_declared() -> None:
    assert admin_routes() == set(UI_ROUTES)


def test_no_admin_page_or_write_opens_with_a_bearer_token_or_without_a_session(ui: Ui) -> None:
    for (method, route), access in sorted(UI_ROUTES.items()):
        path = route.format(**IDS, file_path="admin.css")
        for headers in ({}, {"Authorization": f"Bearer {ui.admin}"}):
            ui.client.cookies.clear()
            answer = ui.client.request(method, path, headers=headers, follow_redirects=False)
            if access == "page":
                assert answer.status_code == 303, (method, route)
                assert answer.headers["location"].startswith("/admin/login?next=")
            elif access == "write":
                assert answer.status_code == 401, (method, route)


def test_the_session_cookie_is_refused_by_rest_and_mcp(ui: Ui) -> None:
    ui.sign_in(ui.admin)
    assert ui.client.cookies.get(COOKIE)
    for method, path in (("GET", "/v1/tenants/default/tools"), ("GET", "/v1/audit"), ("GET", "/metrics")):
        assert ui.client.request(method, path).status_code == 401, path
    created = ui.client.post("/v1/tenants/default/tools", json=TOOL)
    assert created.status_code == 401
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "x", "version": "1"}},
    }
    mcp = ui.client.post("/mcp", json=initialize, headers={"Accept": "application/json, text/event-stream"})
    assert mcp.status_code == 401
    assert ui.rest("GET", "/v1/tenants/default/tools").json()["items"] == []


def test_a_tampered_cookie_opens_no_session(ui: Ui) -> None:
    ui.sign_in(ui.token("viewer"))
    body, mac = ui.client.cookies[COOKIE].split(".")
    import base64

    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).replace(b'"viewer"', b'"platform-admin"')
    forged = base64.urlsafe_b64encode(raw).decode().rstrip("=") + "." + mac
    ui.client.cookies.clear()
    ui.client.cookies.set(COOKIE, forged)
    answer = ui.client.get("/admin/tenants", follow_redirects=False)
    assert answer.status_code == 303 and "/admin/login" in answer.headers["location"]


def test_revoking_the_token_ends_its_ui_sessions(ui: Ui) -> None:
    token, token_id = ui.issue("editor")
    ui.sign_in(token)
    assert ui.rest("DELETE", f"/v1/tenants/default/tokens/{token_id}").status_code == 200
    deadline = time.monotonic() + 10
    while ui.client.get("/admin/", follow_redirects=False).status_code == 200:
        assert time.monotonic() < deadline, "the revoked token's session stayed open"
        time.sleep(0.05)
    assert ui.client.get("/admin/", follow_redirects=False).headers["location"].startswith("/admin/login")


def test_a_write_without_the_csrf_token_or_from_another_site_changes_nothing(ui: Ui) -> None:
    tool = ui.tool()
    csrf = ui.sign_in(ui.admin)
    path = f"/admin/t/default/tools/{tool['id']}/delete"
    refused = [
        ui.client.post(path, data={}, follow_redirects=False),
        ui.client.post(path, data={"csrf": csrf[:-2] + "xx"}, follow_redirects=False),
        ui.client.post(path, data={"csrf": csrf}, headers={"Origin": "https://evil.example"}, follow_redirects=False),
        ui.client.post(path, data={"csrf": csrf}, headers={"Sec-Fetch-Site": "cross-site"}, follow_redirects=False),
    ]
    assert [r.status_code for r in refused] == [403, 403, 403, 403]
    assert (
        ui.rest("GET", f"/v1/tenants/default/tools/{tool['id']}?min_position={tool['position']}").json()["version"] == 1
    )
    # the header form (HTMX sends it) is accepted, and the write is the user's audited event
    done = ui.client.post(path, headers={"X-CSRF-Token": csrf}, follow_redirects=False)
    assert done.status_code == 303
    position = done.headers["location"].rsplit("?at=", 1)[1]  # the page it leads to reads its own write
    assert ui.rest("GET", f"/v1/tenants/default/tools/{tool['id']}?min_position={position}").status_code == 404
    history = ui.rest("GET", f"/v1/tenants/default/tools/{tool['id']}/history").json()["versions"]
    assert history[-1]["event"] == "Deleted" and history[-1]["actor_token_id"] == history[0]["actor_token_id"]


def test_roles_hide_and_refuse_what_they_may_not_do(ui: Ui) -> None:
    tool = ui.tool()
    editor_csrf = ui.sign_in(ui.token("editor"))
    assert ui.client.get("/admin/t/default/tokens").status_code == 403
    assert ui.client.get("/admin/tenants").status_code == 403
    assert 'id="edit"' in ui.client.get(f"/admin/t/default/tools/{tool['id']}?at={tool['position']}").text
    viewer_csrf = ui.sign_in(ui.token("viewer"))
    page = ui.client.get(f"/admin/t/default/tools/{tool['id']}?at={tool['position']}").text
    assert 'id="edit"' not in page and "revert" not in page and 'id="delete"' not in page
    for path, form in (
        (f"/admin/t/default/tools/{tool['id']}/disable", {}),
        (f"/admin/t/default/tools/{tool['id']}/revert", {"version": "1"}),
        (f"/admin/t/default/tools/{tool['id']}/edit", {"name": "taken-over"}),
        ("/admin/t/default/tools/new", {"name": "planted", "input_schema": "{}", "integration": "{}"}),
    ):
        assert ui.client.post(path, data={**form, "csrf": viewer_csrf}, follow_redirects=False).status_code == 403
    assert editor_csrf != viewer_csrf
    got = ui.rest("GET", f"/v1/tenants/default/tools/{tool['id']}").json()
    assert got["version"] == 1 and got["enabled"] is True
    assert ui.rest("GET", "/v1/tenants/default/tools?name_prefix=planted").json()["items"] == []


def test_sign_in_sets_a_strict_http_only_cookie_and_never_redirects_off_site(ui: Ui) -> None:
    answer = ui.client.post(
        "/admin/login", data={"token": ui.admin, "next": "https://evil.example/x"}, follow_redirects=False
    )
    assert answer.headers["location"] == "/admin/"
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/admin" in cookie and "Max-Age=" in cookie
    assert "Secure" not in cookie  # plain HTTP on loopback; over TLS it is Secure (next test)
    bad = ui.client.post("/admin/login", data={"token": "not-a-token"}, follow_redirects=False)
    assert bad.status_code == 401 and "invalid token" in bad.text


def test_the_cookie_is_secure_over_tls_and_never_outlives_its_token(settings: Settings) -> None:
    runtime = build_runtime(settings)
    started = first_start(runtime)
    try:
        with TestClient(create_app(settings, runtime=runtime), base_url="https://testserver.local") as client:
            short = client.post(
                "/v1/tenants/default/tokens",
                headers={"Authorization": f"Bearer {started.token}"},
                json={"name": "short", "role": "viewer", "expires_in_s": 600},
            ).json()["token"]
            answer = client.post("/admin/login", data={"token": short}, follow_redirects=False)
            cookie = answer.headers["set-cookie"]
            assert "Secure" in cookie
            max_age = int(re.search(r"Max-Age=(\d+)", cookie).group(1))  # type: ignore[union-attr]
            assert 0 < max_age <= 600
    finally:
        runtime.close()


def test_a_server_scoped_token_cannot_sign_in(ui: Ui) -> None:
    server = ui.rest("POST", "/v1/tenants/default/servers", json={"name": "s1"})
    assert server.status_code == 201, server.text
    scoped = ui.token("viewer", server_ids=[server.json()["id"]])
    answer = ui.client.post("/admin/login", data={"token": scoped}, follow_redirects=False)
    assert answer.status_code == 401 and ui.client.cookies.get(COOKIE) is None


def test_a_session_signed_with_another_key_or_expired_is_refused() -> None:
    ours, theirs = SessionSigner(b"k" * 32), SessionSigner(b"j" * 32)
    session = ours.open("t", "alice", "default", "editor", None)
    assert ours.verify(ours.sign(session)) == session
    assert theirs.verify(ours.sign(session)) is None
    assert ours.verify(ours.sign(session), now=session.expires_at + 1) is None
    assert ours.open("t", "alice", "default", "editor", time.time() + 30).expires_at <= time.time() + 30
    assert not ours.csrf_ok(session, theirs.csrf_token(session)) and ours.csrf_ok(session, ours.csrf_token(session))
