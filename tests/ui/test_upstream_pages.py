"""An upstream's pages over HTTP (in process, SQLite and PostgreSQL) against real upstream MCP servers
started by the tests: register and refresh redirect to the page with their report (a reload repeats
nothing), a refresh that cannot reach the upstream says so on its page, its settings are changed from a
form that keeps the secrets, its history tells health and sync events, and uploads over the body limit
are answered on the form's page."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ledgergate.application.secrets import MASK
from ledgergate.domain.envelope import Envelope
from tests.support.processes import serving
from tests.ui.conftest import Ui

NEW = "/admin/t/default/upstreams/new"
SECRET = "bearer-s3cret-token"


def register(ui: Ui, url: str, **extra: Any) -> dict[str, Any]:
    body = {"name": "sdk", "transport": "streamable_http", "url": url, **extra}
    answer = ui.rest("POST", "/v1/tenants/default/upstreams", json=body)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def spec_of(ui: Ui, upstream_id: str) -> dict[str, Any]:
    """The upstream's settings with secrets decrypted, as the gateway connects with them."""
    envelope = Envelope(tenant_id="default", actor="test", correlation_id="c", causation_id="c")
    return dict(ui.client.app.state.runtime.registry.connection_spec(envelope, upstream_id))


def head(ui: Ui) -> int:
    """The log's last position (what a read waits for to see every write so far)."""
    return int(ui.client.app.state.runtime.registry.recorder.max_notification_id() or 0)


def version_of(ui: Ui, upstream_id: str) -> int:
    return int(ui.rest("GET", f"/v1/tenants/default/upstreams/{upstream_id}?min_position={head(ui)}").json()["version"])


def probed_after(ui: Ui, upstream_id: str, version: int) -> None:
    """Record a health transition of the upstream after ``version``, as the supervisor's probe does (its own
    probes record only transitions, at most every 30 s: one may already have come before ``version``)."""
    registry = ui.client.app.state.runtime.registry
    envelope = Envelope(tenant_id="default", actor="system:supervisor", correlation_id="c", causation_id="c")
    for state in ("degraded", "unreachable"):  # one of the two differs from what was last recorded
        if registry.record_upstream_health(envelope, upstream_id, state, "probed by the test") is not None:
            break
    assert version_of(ui, upstream_id) > version


def at_of(answer: Any) -> str:
    return parse_qs(urlsplit(answer.headers["location"]).query)["at"][0]


def test_registering_redirects_to_the_page_with_its_report_and_a_reload_registers_nothing_again(ui: Ui) -> None:
    csrf = ui.sign_in(ui.admin)
    fields = {"csrf": csrf, "name": "sdk", "transport": "streamable_http", "auth_type": "none", "prefix_enabled": "on"}
    with serving("tests.support.upstream_server") as url:
        answer = ui.client.post(NEW, data={**fields, "url": url}, follow_redirects=False)
        assert answer.status_code == 303, answer.text
        target = answer.headers["location"]
        query = parse_qs(urlsplit(target).query)
        assert query["at"] and query["report"]
        page = ui.client.get(target)  # what a reload asks for: a GET
        again = ui.client.get(target)
    assert page.status_code == 200 and "<h2>Discovered</h2>" in page.text and "sdk__echo" in page.text
    assert again.text.count('id="refresh-report"') == 1
    assert len(ui.rest("GET", "/v1/tenants/default/upstreams").json()["items"]) == 1
    forged = target.replace(query["report"][0][:12], "A" * 12)
    assert 'id="refresh-report"' not in ui.client.get(forged).text  # a link cannot make up a report


def test_a_refresh_that_cannot_reach_the_upstream_says_so_on_its_page_and_writes_nothing(ui: Ui) -> None:
    with serving("tests.support.upstream_server") as url:
        upstream = register(ui, url)
        csrf = ui.sign_in(ui.admin)
        refreshed = ui.client.post(f"/admin/t/default/upstreams/{upstream['id']}/refresh", data={"csrf": csrf})
        assert refreshed.status_code == 200 and 'id="refresh-report"' in refreshed.text
    tools = f"/v1/tenants/default/tools?min_position={upstream['position']}"
    before = sorted(t["name"] for t in ui.rest("GET", tools).json()["items"])
    failed = ui.client.post(
        f"/admin/t/default/upstreams/{upstream['id']}/refresh", data={"csrf": csrf}, follow_redirects=False
    )
    assert failed.status_code == 502
    assert 'id="refresh-error"' in failed.text and "could not be discovered" in failed.text
    assert 'id="entity-name">sdk<' in failed.text and "sdk__echo" in failed.text  # the upstream's own page
    after = ui.rest("GET", f"/v1/audit?entity={upstream['id']}&min_position={head(ui)}").json()["items"]
    assert all(e["type"].rpartition(".")[2] in ("Registered", "CatalogSynced", "HealthChanged") for e in after)
    assert sorted(t["name"] for t in ui.rest("GET", tools).json()["items"]) == before  # nothing removed


def test_an_admin_changes_an_upstreams_settings_and_its_secret_is_kept_unless_retyped(ui: Ui) -> None:
    with serving("tests.support.upstream_server") as url:
        upstream = register(ui, url, auth={"type": "bearer", "token": SECRET}, tags=["a"])
    edit = f"/admin/t/default/upstreams/{upstream['id']}/edit"
    csrf = ui.sign_in(ui.admin)
    assert 'id="edit"' in ui.client.get(f"/admin/t/default/upstreams/{upstream['id']}?at={upstream['position']}").text
    page = ui.client.get(f"{edit}?at={upstream['position']}")
    assert page.status_code == 200 and SECRET not in page.text and f'value="{MASK}"' not in page.text
    assert re.search(r'name="auth_token"[^>]*placeholder="Stored', page.text)
    version = re.search(r'name="expected_version" value="(\d+)"', page.text)
    assert version is not None
    form = {
        "csrf": csrf,
        "expected_version": version.group(1),
        "seen_at": str(upstream["position"]),
        "description": "changed in the UI",
        "url": url,
        "auth_type": "bearer",
        "auth_token": "",
        "session_mode": "shared",
        "timeout_s": "30",
        "concurrency_limit": "8",
        "tags": "a, b",
    }
    # the supervisor probes the upstream and records its health after the form was made: that changes none
    # of its settings, so the version on the form still holds and the first save succeeds
    probed_after(ui, upstream["id"], int(version.group(1)))
    saved = ui.client.post(edit, data=form, follow_redirects=False)
    assert saved.status_code == 303, saved.text
    stored = ui.rest("GET", f"/v1/tenants/default/upstreams/{upstream['id']}?min_position={at_of(saved)}").json()
    assert stored["description"] == "changed in the UI" and stored["timeout_s"] == 30 and stored["tags"] == ["a", "b"]
    assert spec_of(ui, upstream["id"])["auth"]["token"] == SECRET  # left empty: kept
    again = ui.client.post(edit, data={**form, "description": "a second edit from the same form"})
    assert again.status_code == 422 and "expected version" in again.text  # the settings changed after the form
    retyped = {**form, "expected_version": str(version_of(ui, upstream["id"])), "auth_token": "new-token"}
    assert ui.client.post(edit, data=retyped, follow_redirects=False).status_code == 303
    assert spec_of(ui, upstream["id"])["auth"]["token"] == "new-token"
    stale = ui.client.post(edit, data={**form, "timeout_s": "soon"})
    assert stale.status_code == 422 and 'id="error-timeout_s"' in stale.text and "new-token" not in stale.text
    switched = ui.client.post(
        edit,
        data={**form, "expected_version": str(version_of(ui, upstream["id"])), "auth_type": "oauth_client_credentials"},
    )
    assert switched.status_code == 422 and 'id="error-auth_client_secret"' in switched.text
    assert spec_of(ui, upstream["id"])["auth"]["token"] == "new-token"


def test_only_admins_change_an_upstreams_settings_and_a_forged_change_is_refused(ui: Ui) -> None:
    with serving("tests.support.upstream_server") as url:
        upstream = register(ui, url)
    edit = f"/admin/t/default/upstreams/{upstream['id']}/edit"
    ui.sign_in(ui.admin)
    assert ui.client.post(edit, data={"csrf": "forged", "description": "x"}).status_code == 403
    csrf = ui.sign_in(ui.token("editor"))
    assert (
        'id="edit"' not in ui.client.get(f"/admin/t/default/upstreams/{upstream['id']}?at={upstream['position']}").text
    )
    assert ui.client.get(edit).status_code == 403
    assert ui.client.post(edit, data={"csrf": csrf, "description": "x"}).status_code == 403
    current = ui.rest("GET", f"/v1/tenants/default/upstreams/{upstream['id']}?min_position={head(ui)}").json()
    assert current.get("description") is None


def test_an_upstreams_history_tells_its_health_transitions_and_what_each_sync_brought(ui: Ui) -> None:
    with serving("tests.support.upstream_server") as url:
        upstream = register(ui, url)
    envelope = Envelope(tenant_id="default", actor="system:test", correlation_id="c", causation_id="c")
    registry = ui.client.app.state.runtime.registry
    written = registry.record_upstream_health(envelope, upstream["id"], "unreachable", "connection refused")
    ui.sign_in(ui.token("viewer"))
    page = ui.client.get(f"/admin/t/default/upstreams/{upstream['id']}/history?at={written.position}").text
    health = page.split('data-event="HealthChanged"')[1].split("</li>")[0]
    assert "<th>health</th>" in health and "unreachable" in health and "connection refused" in health
    synced = page.split('data-event="CatalogSynced"')[1].split("</li>")[0]
    assert "<th>added</th>" in synced and "tool echo" in synced and "prompt review" in synced


def test_an_upload_over_the_body_limit_is_answered_on_its_forms_page_with_the_limit_and_the_cli(ui: Ui) -> None:
    csrf = ui.sign_in(ui.admin)
    big = b"x" * (ui.client.app.state.runtime.settings.max_body_bytes + 1)
    resource = ui.client.post(
        "/admin/t/default/resources/new",
        data={"csrf": csrf, "uri": "memo://big", "name": "big"},
        files={"file": ("big.txt", big, "text/plain")},
    )
    assert resource.status_code == 413 and 'id="entity-form"' in resource.text
    assert "LEDGERGATE_MAX_BODY_BYTES" in resource.text and "ledgergate resources create" in resource.text
    assert 'id="error-file"' in resource.text
    check = ui.client.post(
        "/admin/t/default/resources/check", data={"csrf": csrf}, files={"file": ("big.txt", big, "text/plain")}
    )
    assert check.status_code == 200 and "LEDGERGATE_MAX_BODY_BYTES" in check.text
    imported = ui.client.post("/admin/import/verify", data={"csrf": csrf}, files={"file": ("e.jsonl", big)})
    assert imported.status_code == 413 and 'id="upload-form"' in imported.text
    assert "LEDGERGATE_MAX_BODY_BYTES" in imported.text and "ledgergate events import" in imported.text
    assert ui.rest("GET", "/v1/tenants/default/resources").json()["items"] == []


def test_empty_lists_and_the_dashboard_lead_a_first_user_to_create_things(ui: Ui) -> None:
    ui.sign_in(ui.admin)
    tools = ui.client.get("/admin/t/default/tools").text
    assert 'href="/admin/t/default/tools/new">Create a tool' in tools and "/admin/t/default/upstreams/new" in tools
    assert "Register an upstream MCP server" in ui.client.get("/admin/t/default/upstreams").text
    dashboard = ui.client.get("/admin/").text
    assert 'id="no-upstreams"' in dashboard and 'href="/admin/tenants"' in dashboard
    assert 'class="tile" href="/admin/t/default/tools"' in dashboard
    ui.sign_in(ui.token("viewer"))
    assert "Create a tool" not in ui.client.get("/admin/t/default/tools").text
