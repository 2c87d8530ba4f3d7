"""The admin UI's pages over HTTP (in process, SQLite and PostgreSQL): paging, filters, forms, delete and revert."""

from __future__ import annotations

import json
import re

from tests.support.mcp_raw import modern_rpc, result_of
from tests.ui.conftest import TOOL, Ui

ROW = re.compile(r'<a href="/admin/t/default/tools/[0-9a-f-]+">([^<]+)</a>')


def test_the_tool_list_pages_by_cursor_and_filters_by_prefix_enabled_and_tag(ui: Ui) -> None:
    for n in range(57):
        body = {**TOOL, "name": f"page-{n:03d}", "tags": ["odd"] if n % 2 else []}
        assert ui.rest("POST", "/v1/tenants/default/tools", json=body).status_code == 201
    last = ui.rest("POST", "/v1/tenants/default/tools", json={**TOOL, "name": "other"}).json()
    ui.rest("POST", f"/v1/tenants/default/tools/{last['id']}/disable")
    ui.sign_in(ui.admin)
    seen: list[str] = []
    path = "/admin/t/default/tools?q=page-&at=" + str(last["position"])
    while path:
        page = ui.client.get(path)
        assert page.status_code == 200
        seen += ROW.findall(page.text)
        found = re.search(r'id="next-page" href="([^"]+)"', page.text)
        path = "/admin/t/default/tools" + found.group(1).replace("&amp;", "&") if found else ""
    assert seen == [f"page-{n:03d}" for n in range(57)]
    odd = ROW.findall(ui.client.get("/admin/t/default/tools?tag=odd").text)
    assert odd == [f"page-{n:03d}" for n in range(1, 57, 2)]
    disabled = ROW.findall(ui.client.get(f"/admin/t/default/tools?enabled=false&at={last['position'] + 1}").text)
    assert disabled == ["other"]
    bad = ui.client.get("/admin/t/default/tools?cursor=not-a-cursor")
    assert bad.status_code in (400, 422) and "not a cursor" in bad.text  # the REST API's status for it


def test_an_invalid_edit_shows_the_apis_message_by_its_field_and_changes_nothing(ui: Ui) -> None:
    tool = ui.rest("POST", "/v1/tenants/default/tools", json=TOOL).json()
    csrf = ui.sign_in(ui.admin)
    form = {
        "csrf": csrf,
        "name": "probe",
        "input_schema": '{"type": "object"',
        "integration": '{"method": "GET", "url": "https://api.example.com/x"}',
    }
    broken = ui.client.post(f"/admin/t/default/tools/{tool['id']}/edit", data=form)
    assert broken.status_code == 422
    assert 'id="error-input_schema"' in broken.text and "not valid JSON" in broken.text
    form["input_schema"] = '{"type": "object"}'
    form["integration"] = '{"method": "FETCH", "url": "https://api.example.com/x"}'
    wrong = ui.client.post(f"/admin/t/default/tools/{tool['id']}/edit", data=form)
    assert (
        wrong.status_code == 422
        and 'id="error-integration"' in wrong.text
        and "FETCH" not in wrong.text.split("error-integration")[1][:20]
    )
    api = ui.rest(
        "PATCH",
        f"/v1/tenants/default/tools/{tool['id']}",
        json={"integration": {"method": "FETCH", "url": "https://api.example.com/x"}},
    )
    error = api.json()["errors"][0]  # the API's own message and key
    assert f"{error['key']}: {error['message']}".replace("'", "&#39;") in wrong.text
    assert (
        ui.rest("GET", f"/v1/tenants/default/tools/{tool['id']}?min_position={tool['position']}").json()["version"] == 1
    )


def test_a_name_taken_by_another_tool_is_refused_on_the_form(ui: Ui) -> None:
    ui.rest("POST", "/v1/tenants/default/tools", json=TOOL)
    csrf = ui.sign_in(ui.admin)
    form = {
        "csrf": csrf,
        "name": "probe",
        "input_schema": '{"type": "object"}',
        "integration": '{"method": "GET", "url": "https://api.example.com/x"}',
    }
    taken = ui.client.post("/admin/t/default/tools/new", data=form)
    assert taken.status_code == 422 and 'id="problem"' in taken.text and "probe" in taken.text


def test_a_deleted_tool_keeps_its_page_and_history_and_is_restored_by_a_revert(ui: Ui) -> None:
    tool = ui.rest("POST", "/v1/tenants/default/tools", json=TOOL).json()
    csrf = ui.sign_in(ui.admin)
    deleted = ui.client.post(f"/admin/t/default/tools/{tool['id']}/delete", data={"csrf": csrf}, follow_redirects=False)
    assert deleted.status_code == 303
    page = ui.client.get(deleted.headers["location"])
    assert page.status_code == 200 and "(deleted)" in page.text and "Revert to v1" in page.text
    reverted = ui.client.post(f"/admin/t/default/tools/{tool['id']}/revert", data={"csrf": csrf, "version": "1"})
    assert reverted.status_code == 200 and 'id="entity-name">probe<' in reverted.text
    versions = ui.rest("GET", f"/v1/tenants/default/tools/{tool['id']}/history").json()["versions"]
    assert [v["event"] for v in versions] == ["Registered", "Deleted", "Reverted"]


def test_an_unknown_list_or_entity_is_a_404_page_not_a_problem_document(ui: Ui) -> None:
    ui.sign_in(ui.admin)
    for path in ("/admin/t/default/widgets", "/admin/t/default/tools/00000000-0000-0000-0000-000000000000"):
        answer = ui.client.get(path)
        assert answer.status_code == 404 and answer.headers["content-type"].startswith("text/html")
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]


def test_only_admins_issue_tokens_and_never_above_their_own_role(ui: Ui) -> None:
    editor_csrf = ui.sign_in(ui.token("editor"))
    refused = ui.client.post("/admin/t/default/tokens/new", data={"csrf": editor_csrf, "name": "x", "role": "viewer"})
    assert refused.status_code == 403
    admin_csrf = ui.sign_in(ui.token("admin"))
    page = ui.client.get("/admin/t/default/tokens").text
    assert '<option value="admin"' in page and '<option value="platform-admin"' not in page
    above = ui.client.post(
        "/admin/t/default/tokens/new", data={"csrf": admin_csrf, "name": "y", "role": "platform-admin"}
    )
    assert above.status_code == 403
    key = re.search(r'name="issue_key" value="([\w-]+)"', page).group(1)  # type: ignore[union-attr]
    form = {"csrf": admin_csrf, "issue_key": key, "name": "z", "role": "viewer"}
    issued = ui.client.post("/admin/t/default/tokens/new", data=form)
    assert issued.status_code == 201 and 'id="issued-token"' in issued.text
    at = re.search(r"tokens\?at=(\d+)", issued.text).group(1)  # type: ignore[union-attr]
    names = [
        t["name"] for t in ui.rest("GET", f"/v1/tenants/default/tokens?limit=500&min_position={at}").json()["items"]
    ]
    assert "z" in names and "x" not in names and "y" not in names


def test_the_audit_page_refuses_a_bad_moment_and_other_tenants(ui: Ui) -> None:
    ui.sign_in(ui.token("viewer"))
    bad = ui.client.get("/admin/audit?at=yesterday")
    assert bad.status_code in (400, 422) and "RFC 3339" in bad.text
    assert ui.client.get("/admin/audit?tenant=someone-else").status_code == 403
    assert ui.client.get("/admin/audit?at=1").status_code == 200


def test_the_live_check_validates_a_new_tool_as_create_would_and_writes_nothing(ui: Ui) -> None:
    csrf = ui.sign_in(ui.admin)
    form = {
        "csrf": csrf,
        "name": "checked",
        "input_schema": '{"type": 7}',
        "integration": '{"method": "GET", "url": "https://api.example.com/x"}',
    }
    bad = ui.client.post("/admin/t/default/tools/check", data=form)
    assert bad.status_code == 200 and 'data-field="input_schema"' in bad.text
    form["input_schema"] = '{"type": "object"}'
    good = ui.client.post("/admin/t/default/tools/check", data=form)
    assert good.status_code == 200 and 'id="live-ok"' in good.text
    assert ui.client.post("/admin/t/default/tools/check", data={**form, "csrf": ""}).status_code == 403
    head = ui.rest("GET", "/v1/audit?limit=1000").json()["items"]
    assert not any(entry.get("kind") == "tool" for entry in head)


def test_upstream_actions_need_their_roles(ui: Ui) -> None:
    csrf = ui.sign_in(ui.token("editor"))
    missing = "00000000-0000-0000-0000-000000000000"
    for action in ("enable", "disable", "delete"):
        answer = ui.client.post(f"/admin/t/default/upstreams/{missing}/{action}", data={"csrf": csrf})
        assert answer.status_code == 403, action  # admins only, as on REST
    assert ui.client.post(f"/admin/t/default/upstreams/{missing}/refresh", data={"csrf": csrf}).status_code == 404
    assert ui.client.post(f"/admin/t/default/upstreams/{missing}/explode", data={"csrf": csrf}).status_code == 404


def test_the_dashboard_shows_this_processs_mcp_rates_to_platform_admins_only(ui: Ui) -> None:
    for _ in range(3):
        assert result_of(modern_rpc(ui.client, "/mcp", ui.admin, "tools/list")) is not None
    ui.sign_in(ui.admin)
    rates = re.search(r'<table id="rates">.*?MCP requests</th><td>(\d+)', ui.client.get("/admin/").text, re.S)
    assert rates is not None and int(rates.group(1)) >= 3
    ui.sign_in(ui.token("admin"))
    assert 'id="rates"' not in ui.client.get("/admin/").text


def test_composing_a_server_needs_an_editor_and_a_well_formed_request(ui: Ui) -> None:
    tool = ui.tool()
    server = ui.rest("POST", "/v1/tenants/default/servers", json={"name": "comp"}).json()
    path = f"/admin/t/default/servers/{server['id']}/compose"
    add = {"kind": "tool", "member": tool["id"], "op": "add", "at": str(server["position"])}
    viewer_csrf = ui.sign_in(ui.token("viewer"))
    assert ui.client.post(path, data={**add, "csrf": viewer_csrf}).status_code == 403
    editor_csrf = ui.sign_in(ui.token("editor"))
    assert ui.client.post(path, data={**add, "op": "explode", "csrf": editor_csrf}).status_code == 422
    stale = ui.client.post(path, data={**add, "expected_version": "7", "csrf": editor_csrf})
    assert stale.status_code == 409  # the page showed another version: nothing written
    done = ui.client.post(path, data={**add, "expected_version": "1", "csrf": editor_csrf}, follow_redirects=False)
    assert done.status_code == 303
    at = done.headers["location"].rsplit("?at=", 1)[1]
    got = ui.rest("GET", f"/v1/tenants/default/servers/{server['id']}?min_position={at}").json()
    assert got["tool_ids"] == [tool["id"]] and got["version"] == 2


def test_an_admin_downloads_the_tenants_export_and_others_may_not(ui: Ui) -> None:
    tool = ui.tool()
    ui.sign_in(ui.token("editor"))
    assert ui.client.get("/admin/export").status_code == 403
    assert 'id="export"' not in ui.client.get("/admin/").text
    ui.sign_in(ui.admin)
    ui.rest("GET", f"/v1/audit?min_position={tool['position']}")
    answer = ui.client.get("/admin/export")
    assert answer.status_code == 200 and "attachment" in answer.headers["content-disposition"]
    lines = [json.loads(line) for line in answer.text.splitlines() if line]
    assert len(lines) > 2 and tool["id"] in answer.text
    verified = ui.rest("POST", "/v1/events/import?dry_run=true", content=answer.content)
    assert verified.status_code in (200, 409), verified.text  # a file the importer reads and verifies


def test_a_malformed_version_in_a_form_is_refused_not_an_internal_error(ui: Ui) -> None:
    tool = ui.tool()
    csrf = ui.sign_in(ui.admin)
    for action, form in (("disable", {"expected_version": "one"}), ("revert", {"version": "-1"})):
        answer = ui.client.post(f"/admin/t/default/tools/{tool['id']}/{action}", data={**form, "csrf": csrf})
        assert answer.status_code == 422, (action, answer.text[-300:])
    assert (
        ui.rest("GET", f"/v1/tenants/default/tools/{tool['id']}?min_position={tool['position']}").json()["version"] == 1
    )
