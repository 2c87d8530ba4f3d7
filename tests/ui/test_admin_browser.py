"""The admin UI in a real headless Chromium against a real ``ledgergate serve`` process."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.processes import serving
from tests.ui.conftest import SCREENSHOTS, browser_page, issue_token

pytestmark = pytest.mark.slow

BAD_SCHEMA = '{"type": "objekt"}'
GOOD_SCHEMA = '{"type": "object", "properties": {"city": {"type": "string"}}}'
INTEGRATION = '{"method": "GET", "url": "https://api.example.com/weather/{city}"}'


@pytest.fixture
def page(browser: Any, gateway: Any) -> Iterator[Any]:
    with browser_page(browser, gateway[0].url, height=860) as page:
        yield page


def sign_in(page: Any, token: str) -> None:
    page.goto("/admin/")
    assert "/admin/login" in page.url
    page.fill("#token", token)
    page.click("#sign-in")
    page.wait_for_selector("text=Dashboard")


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def fill_tool(page: Any, name: str, schema: str, description: str = "Weather by city") -> None:
    page.fill("#f-name", name)
    page.fill("#f-description", description)
    page.fill("#f-tags", "weather, demo")
    page.fill("#f-input_schema", schema)
    page.fill("#f-integration", INTEGRATION)


def test_an_editor_creates_fixes_edits_and_reverts_a_tool_and_sees_the_diff(page: Any, gateway: Any) -> None:
    server, admin = gateway
    sign_in(page, admin)
    page.click("text=Tools")
    page.click("#new-tool")
    fill_tool(page, "weather", BAD_SCHEMA)
    # validated as it is typed, by the create use case's dry run (nothing is written)
    page.wait_for_selector("#live-error[data-field='input_schema']")
    assert "valid JSON Schema" in page.locator("#live-error").inner_text()
    page.click("#save")
    error = page.locator("#error-input_schema")
    assert "input_schema" in error.inner_text() and "valid JSON Schema" in error.inner_text()
    assert page.locator("#f-name").input_value() == "weather"  # what was typed is kept
    page.fill("#f-input_schema", GOOD_SCHEMA)
    page.wait_for_selector("#live-ok")
    page.click("#save")
    page.wait_for_selector("#history")
    assert page.locator("#entity-name").inner_text() == "weather"
    tool_url = page.url.split("?")[0]

    page.click("#edit")
    page.fill("#f-description", "Weather by city, in Celsius")
    page.click("#save")
    page.wait_for_selector("#history")
    newest = page.locator("#history .step").first
    assert "v2 · Updated" in newest.inner_text()
    diff = newest.locator("table.diff")
    assert "description" in diff.inner_text()
    assert "Weather by city" in diff.locator("td.before").inner_text()
    assert "in Celsius" in diff.locator("td.after").inner_text()
    shot(page, "history")

    page.locator('#history .step[data-version="1"] button.revert').click()
    page.wait_for_selector('#history .step[data-version="3"]')
    assert "Reverted to v1" in page.locator("#history .step").first.inner_text()
    assert page.locator('[data-field="description"]').inner_text() == "Weather by city"
    # the UI wrote through the registry: REST sees the same tool, reverted, with the user as actor
    tool_id = tool_url.rsplit("/", 1)[1]
    history = httpx.get(
        f"{server.url}/v1/tenants/default/tools/{tool_id}/history",
        headers={"Authorization": f"Bearer {admin}"},
        timeout=10,
    ).json()["versions"]
    assert [v["event"] for v in history] == ["Registered", "Updated", "Reverted"]
    assert all(v["actor"] == history[0]["actor"] and v["actor_token_id"] for v in history)

    page.click("#disable")
    page.wait_for_selector("#enable")
    assert page.locator("#enabled").inner_text() == "no"
    page.goto("/admin/")
    latest = page.locator("#recent tr").nth(1).inner_text()  # the latest changes, from the audit log
    assert "Disabled" in latest and "tool" in latest and tool_id in latest
    shot(page, "dashboard")


def test_the_list_searches_by_name_and_filters_by_enabled_and_tag(page: Any, gateway: Any) -> None:
    server, admin = gateway
    for name in ("alpha-one", "alpha-two", "beta"):
        body = {"name": name, "input_schema": {"type": "object"}, "tags": ["grp"] if name != "beta" else []}
        body["integration"] = json.loads(INTEGRATION)
        answer = httpx.post(
            f"{server.url}/v1/tenants/default/tools", headers={"Authorization": f"Bearer {admin}"}, json=body
        )
        assert answer.status_code == 201, answer.text
    sign_in(page, admin)
    page.goto("/admin/t/default/tools")
    page.fill("#q", "alpha")
    page.wait_for_function("() => document.querySelectorAll('#rows tbody tr').length === 2")
    assert "q=alpha" in page.url
    rows = page.locator("#rows tbody").inner_text()
    assert "alpha-one" in rows and "alpha-two" in rows and "beta" not in rows
    page.goto("/admin/t/default/tools?tag=grp")
    assert page.locator("#rows tbody tr").count() == 2
    shot(page, "tools")


def test_a_script_in_a_description_is_shown_as_text(page: Any, gateway: Any) -> None:
    _, admin = gateway
    sign_in(page, admin)
    page.goto("/admin/t/default/tools/new")
    fill_tool(page, "xss-probe", GOOD_SCHEMA, description="<script>window.pwned = 1</script><b>bold</b>")
    page.click("#save")
    page.wait_for_selector("#history")
    assert page.evaluate("() => window.pwned") is None
    assert "<script>window.pwned = 1</script>" in page.locator('[data-field="description"]').inner_text()
    assert page.locator('[data-field="description"] b').count() == 0
    page.goto("/admin/t/default/tools?q=xss")
    assert "<script>" in page.locator("#rows").inner_text()
    assert page.evaluate("() => window.pwned") is None


def test_a_viewer_sees_no_edit_controls_and_a_forged_edit_is_refused(page: Any, gateway: Any) -> None:
    server, admin = gateway
    body = {"name": "viewer-target", "input_schema": {"type": "object"}, "integration": json.loads(INTEGRATION)}
    created = httpx.post(
        f"{server.url}/v1/tenants/default/tools", headers={"Authorization": f"Bearer {admin}"}, json=body
    )
    tool_id = created.json()["id"]
    viewer = issue_token(server.url, admin, "viewer", "ui-viewer")
    sign_in(page, viewer)
    page.goto(f"/admin/t/default/tools/{tool_id}?at={created.json()['position']}")
    page.wait_for_selector("#history")
    assert page.locator("#edit-controls").count() == 0
    assert page.locator("button.revert").count() == 0
    page.goto("/admin/t/default/tools")
    assert page.locator("#new-tool").count() == 0
    assert page.locator("text=Tokens").count() == 0
    csrf = re.search(r'"X-CSRF-Token": "([^"]+)"', page.get_attribute("body", "hx-headers") or "")
    assert csrf is not None
    # a forged request with a valid session and CSRF token: refused by the role, nothing written
    answer = page.request.post(
        f"/admin/t/default/tools/{tool_id}/disable", form={"csrf": csrf.group(1)}, max_redirects=0
    )
    assert answer.status == 403
    answer = page.request.post(
        f"/admin/t/default/tools/{tool_id}/edit", form={"csrf": csrf.group(1), "name": "hijacked"}, max_redirects=0
    )
    assert answer.status == 403
    got = httpx.get(f"{server.url}/v1/tenants/default/tools/{tool_id}", headers={"Authorization": f"Bearer {admin}"})
    assert got.json()["enabled"] is True and got.json()["name"] == "viewer-target" and got.json()["version"] == 1


def test_a_request_without_the_csrf_token_is_refused_and_changes_nothing(page: Any, gateway: Any) -> None:
    server, admin = gateway
    body = {"name": "csrf-target", "input_schema": {"type": "object"}, "integration": json.loads(INTEGRATION)}
    created = httpx.post(
        f"{server.url}/v1/tenants/default/tools", headers={"Authorization": f"Bearer {admin}"}, json=body
    )
    tool_id = created.json()["id"]
    sign_in(page, admin)
    for form in ({}, {"csrf": "not-the-token"}):
        answer = page.request.post(f"/admin/t/default/tools/{tool_id}/delete", form=form, max_redirects=0)
        assert answer.status == 403
        assert "CSRF" in answer.text()
    got = httpx.get(f"{server.url}/v1/tenants/default/tools/{tool_id}", headers={"Authorization": f"Bearer {admin}"})
    assert got.status_code == 200 and got.json()["version"] == 1


def test_signing_out_ends_the_session(page: Any, gateway: Any) -> None:
    _, admin = gateway
    sign_in(page, admin)
    cookie = next(c for c in page.context.cookies() if c["name"] == "ledgergate_admin")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/admin"
    assert cookie["expires"] > 0
    page.click("#sign-out")
    page.wait_for_selector("#sign-in")
    page.goto("/admin/")
    assert "/admin/login" in page.url
    # the old cookie, replayed, no longer opens the session in this process
    page.context.add_cookies([{k: cookie[k] for k in ("name", "value", "domain", "path")}])
    page.goto("/admin/")
    assert "/admin/login" in page.url


def test_ui_pages_carry_the_security_headers_and_load_only_their_own_assets(page: Any, gateway: Any) -> None:
    _, admin = gateway
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    sign_in(page, admin)
    answer = page.goto("/admin/t/default/tools")
    headers = answer.headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY" and headers["referrer-policy"] == "same-origin"
    assert all(url.startswith(gateway[0].url) for url in requested)
    assert any(url.endswith("/admin/static/htmx.min.js") for url in requested)
    assert page.evaluate("() => typeof window.htmx") == "object"
    assert problems == []  # no CSP violation, no failed asset


def test_an_admin_issues_a_token_sees_it_once_and_revokes_it(page: Any, gateway: Any) -> None:
    server, admin = gateway
    sign_in(page, admin)
    page.click("text=Tokens")
    page.fill("#token-name", "ci-reader")
    page.select_option("#token-role", "viewer")
    page.dblclick("#issue")  # a double click sends the form once (static/once.js); the server would refuse a copy
    issued = page.locator("#issued-token").input_value()
    assert issued.count(".") == 2  # a JWT, shown on this page only
    page.click("#copy")
    page.wait_for_selector("#copy:has-text('Copied')")
    assert (
        httpx.get(f"{server.url}/v1/tenants/default/tools", headers={"Authorization": f"Bearer {issued}"}).status_code
        == 200
    )
    page.click("text=Back to the tokens")
    row = page.locator("tr", has=page.locator("button[data-token='ci-reader']"))
    page.wait_for_selector("button[data-token='ci-reader']")
    assert row.count() == 1
    row.locator("button.revoke").click()
    page.wait_for_selector("tr:has-text('ci-reader') >> text=revoked")
    assert issued not in page.content()
    deadline = time.monotonic() + 10
    while (
        httpx.get(f"{server.url}/v1/tenants/default/tools", headers={"Authorization": f"Bearer {issued}"}).status_code
        != 401
    ):
        assert time.monotonic() < deadline, "the revoked token still works"
        time.sleep(0.05)


def test_the_audit_page_filters_the_log_and_shows_the_catalog_at_an_earlier_moment(page: Any, gateway: Any) -> None:
    server, admin = gateway
    headers = {"Authorization": f"Bearer {admin}"}
    body = {"name": "moment-tool", "input_schema": {"type": "object"}, "integration": json.loads(INTEGRATION)}
    before = httpx.post(f"{server.url}/v1/tenants/default/tools", headers=headers, json=body).json()
    later = httpx.post(f"{server.url}/v1/tenants/default/tools", headers=headers, json={**body, "name": "later-tool"})
    httpx.post(f"{server.url}/v1/tenants/default/tools/{before['id']}/disable", headers=headers)
    sign_in(page, admin)
    page.goto(f"/admin/audit?entity={before['id']}")
    log = page.locator("#audit-log").inner_text()
    assert "Registered" in log and "Disabled" in log and later.json()["id"] not in log
    page.fill("#at", str(before["position"]))
    page.click("#show-moment")
    moment = page.locator("#moment").inner_text()
    assert "moment-tool" in moment and "later-tool" not in moment
    since = page.locator("#since-then")
    assert "later-tool" in since.locator("ul.added").inner_text()
    assert "moment-tool: enabled" in since.locator("ul.changed").inner_text()
    shot(page, "audit")


def test_a_real_upstream_shows_its_tools_and_health_and_refreshes(page: Any, gateway: Any) -> None:
    server, admin = gateway
    with serving("tests.support.upstream_server") as upstream_url:
        registered = httpx.post(
            f"{server.url}/v1/tenants/default/upstreams",
            headers={"Authorization": f"Bearer {admin}"},
            json={"name": "sdk", "transport": "streamable_http", "url": upstream_url},
            timeout=60,
        )
        assert registered.status_code == 201, registered.text
        sign_in(page, admin)
        page.goto(f"/admin/t/default/upstreams/{registered.json()['id']}?at={registered.json()['position']}")
        tools = page.locator("ul.upstream-tools").inner_text()
        assert "sdk__echo" in tools and "sdk__add" in tools
        assert "(0)" not in page.locator("h3:has-text('resources')").inner_text()
        assert page.locator("#health").inner_text() in ("unknown", "healthy", "degraded", "unreachable")
        page.click("#refresh")
        page.wait_for_selector("#refresh-report")
        shot(page, "upstream")
        page.click("#disable")
        page.wait_for_selector("#enable")
        assert "Disabled" in page.locator("#upstream-events").inner_text()
        page.goto("/admin/")
        assert "sdk" in page.locator("#upstream-health").inner_text()


def test_an_editor_composes_a_virtual_server_and_sees_what_it_exposes(page: Any, gateway: Any) -> None:
    server, admin = gateway
    headers = {"Authorization": f"Bearer {admin}"}
    for name in ("compose-a", "compose-b"):
        body = {"name": name, "input_schema": {"type": "object"}, "integration": json.loads(INTEGRATION)}
        assert httpx.post(f"{server.url}/v1/tenants/default/tools", headers=headers, json=body).status_code == 201
    created = httpx.post(f"{server.url}/v1/tenants/default/servers", headers=headers, json={"name": "composed"}).json()
    sign_in(page, admin)
    page.goto(f"/admin/t/default/servers/{created['id']}?at={created['position']}")
    page.select_option("#find-kind", "tool")
    page.fill("#find-q", "compose-")
    page.wait_for_selector("button[data-candidate='compose-b']")
    page.click("button[data-candidate='compose-a']")
    page.wait_for_selector("button.remove[data-member='compose-a']")
    deadline = time.monotonic() + 10
    while "compose-a" not in page.locator(".exposed-tools").inner_text():  # the hot catalog follows the log
        assert time.monotonic() < deadline, "the server does not expose its new tool"
        page.reload()
    assert "compose-b" not in page.locator(".members-tool").inner_text()
    shot(page, "composer")
    page.click("button.remove[data-member='compose-a']")
    page.wait_for_selector(".members-tool >> text=none")
    versions = httpx.get(f"{server.url}/v1/tenants/default/servers/{created['id']}/history", headers=headers).json()
    assert [v["event"] for v in versions["versions"]][-2:] == ["Updated", "Updated"]


def test_an_event_written_through_rest_appears_in_the_live_audit_tail(page: Any, gateway: Any) -> None:
    server, admin = gateway
    sign_in(page, admin)
    page.goto("/admin/audit")
    page.click("#live-tail")
    page.wait_for_selector("#live-tail[aria-pressed='true']")
    body = {"name": "tailed", "input_schema": {"type": "object"}, "integration": json.loads(INTEGRATION)}
    created = httpx.post(
        f"{server.url}/v1/tenants/default/tools", headers={"Authorization": f"Bearer {admin}"}, json=body
    )
    assert created.status_code == 201, created.text
    page.wait_for_selector(f"#audit-log tr.live >> text={created.json()['id']}")
    assert "Registered" in page.locator("#audit-log tr.live", has_text=created.json()["id"]).inner_text()
