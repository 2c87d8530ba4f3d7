"""The admin UI's operations over HTTP (in process, SQLite and PostgreSQL): tenants, import, history
pages and the upstream filter, each through the same use cases and queries as the REST API."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from litestar.testing import TestClient

from ledgergate.api.app import create_app
from ledgergate.api.bootstrap import first_start
from ledgergate.api.runtime import build_runtime
from tests.conftest import make_settings
from tests.ui.conftest import TOOL, Ui


def _tenant(ui: Ui, slug: str, after: Any = None) -> dict[str, Any]:
    """The tenant as REST reads it, once the write a UI answer redirected after is in the read model."""
    at = _position(after) if after is not None else 0
    return dict(ui.rest("GET", f"/v1/tenants/{slug}?min_position={at}").json())


def _position(answer: Any) -> int:
    found = re.search(r"[?&]at=(\d+)", answer.headers.get("location", ""))
    assert found is not None, answer.text[-300:]
    return int(found.group(1))


def test_a_platform_admin_creates_renames_disables_enables_and_deletes_a_tenant(ui: Ui) -> None:
    csrf = ui.sign_in(ui.admin)
    form = {"csrf": csrf, "name": "acme", "display_name": "Acme Ltd", "description": "the first customer"}
    created = ui.client.post("/admin/tenants/new", data=form, follow_redirects=False)
    assert created.status_code == 303
    page = ui.client.get(created.headers["location"])  # ?at= the write: the list already shows it
    assert 'data-tenant="acme"' in page.text and "Tenant acme created." in page.text
    tenant = _tenant(ui, "acme", created)
    assert (tenant["display_name"], tenant["description"], tenant["version"]) == ("Acme Ltd", "the first customer", 1)
    entries = ui.rest("GET", f"/v1/audit?tenant=acme&min_position={_position(created)}")
    actor = entries.json()["items"][0]["actor_token_id"]  # the signed-in token is the actor
    assert ui.rest("GET", f"/v1/tenants/default/tokens/{actor}").json()["role"] == "platform-admin"
    renamed = ui.client.post(
        "/admin/tenants/acme/update",
        data={"csrf": csrf, "display_name": "Acme", "description": "", "expected_version": "1"},
        follow_redirects=False,
    )
    assert renamed.status_code == 303
    assert (_tenant(ui, "acme", renamed)["display_name"], _tenant(ui, "acme")["version"]) == ("Acme", 2)
    stale = ui.client.post(
        "/admin/tenants/acme/update", data={"csrf": csrf, "display_name": "Late", "expected_version": "1"}
    )
    assert stale.status_code == 409 and _tenant(ui, "acme")["display_name"] == "Acme"
    disabled = ui.client.post("/admin/tenants/acme/disable", data={"csrf": csrf}, follow_redirects=False)
    assert _tenant(ui, "acme", disabled)["enabled"] is False
    enabled = ui.client.post("/admin/tenants/acme/enable", data={"csrf": csrf}, follow_redirects=False)
    assert _tenant(ui, "acme", enabled)["enabled"] is True
    unconfirmed = ui.client.post("/admin/tenants/acme/delete", data={"csrf": csrf, "confirm": "acne"})
    assert unconfirmed.status_code == 422 and "type the tenant&#39;s name (acme)" in unconfirmed.text
    assert _tenant(ui, "acme")["enabled"] is True
    deleted = ui.client.post(
        "/admin/tenants/acme/shred", data={"csrf": csrf, "confirm": "acme"}, follow_redirects=False
    )
    assert deleted.status_code == 303
    assert ui.rest("GET", f"/v1/tenants/acme?min_position={_position(deleted)}").status_code == 404
    assert 'data-tenant="acme"' not in ui.client.get(deleted.headers["location"]).text


def test_a_bad_or_taken_tenant_name_is_shown_on_the_form_and_changes_nothing(ui: Ui) -> None:
    csrf = ui.sign_in(ui.admin)
    bad = ui.client.post("/admin/tenants/new", data={"csrf": csrf, "name": "Not A Slug!"})
    assert bad.status_code == 422 and 'id="problem"' in bad.text and 'value="Not A Slug!"' in bad.text
    taken = ui.client.post("/admin/tenants/new", data={"csrf": csrf, "name": "default"})
    assert taken.status_code == 409 and "already exists" in taken.text
    names = [t["name"] for t in ui.rest("GET", "/v1/tenants").json()["items"]]
    assert "Not A Slug!" not in names and names.count("default") == 1
    assert ui.client.post("/admin/tenants/default/rename", data={"csrf": csrf}).status_code == 404


def test_tenant_writes_need_a_platform_admin_and_the_csrf_token(ui: Ui) -> None:
    admin_csrf = ui.sign_in(ui.admin)
    for path, form in (("/admin/tenants/new", {"name": "forged"}), ("/admin/tenants/default/disable", {})):
        assert ui.client.post(path, data={**form, "csrf": admin_csrf[:-2] + "xx"}).status_code == 403
        cross = ui.client.post(path, data={**form, "csrf": admin_csrf}, headers={"Origin": "https://evil.example"})
        assert cross.status_code == 403
    csrf = ui.sign_in(ui.token("admin"))  # a tenant admin, not a platform admin
    assert ui.client.get("/admin/tenants").status_code == 403
    assert ui.client.post("/admin/tenants/new", data={"csrf": csrf, "name": "planted"}).status_code == 403
    assert ui.client.post("/admin/tenants/default/disable", data={"csrf": csrf}).status_code == 403
    assert ui.rest("GET", "/v1/tenants/planted").status_code == 404
    assert ui.rest("GET", "/v1/tenants/forged").status_code == 404
    assert _tenant(ui, "default")["enabled"] is True


def export_of_another_instance(tmp_path: Path) -> bytes:
    """An export of a tenant made on another gateway (its own store), so importing it adds events."""
    settings = make_settings(tmp_path / "elsewhere")
    runtime = build_runtime(settings)
    token = first_start(runtime).token
    try:
        with TestClient(create_app(settings, runtime=runtime)) as client:
            headers = {"Authorization": f"Bearer {token}"}
            assert client.post("/v1/tenants", json={"name": "moved"}, headers=headers).status_code == 201
            tool = client.post("/v1/tenants/moved/tools", json={**TOOL, "name": "moved-tool"}, headers=headers)
            assert tool.status_code == 201
            answer = client.get(
                f"/v1/events/export?tenant=moved&min_position={tool.json()['position']}", headers=headers
            )
            assert answer.status_code == 200
            return answer.content
    finally:
        runtime.close()


def _verify(ui: Ui, csrf: str, content: bytes, **headers: str) -> Any:
    files = {"file": ("moved.jsonl", content, "application/x-ndjson")}
    return ui.client.post("/admin/import/verify", data={"csrf": csrf}, files=files, headers=headers)


def _hidden(page: str) -> dict[str, str]:
    archive = re.search(r'<textarea name="archive" hidden aria-hidden="true">(.*?)</textarea>', page, re.S)
    digest = re.search(r'name="digest" value="([0-9a-f]+)"', page)
    assert archive is not None and digest is not None
    import html

    return {"archive": html.unescape(archive.group(1)), "digest": digest.group(1)}


def test_an_export_is_verified_with_a_dry_run_then_imported_as_the_rest_import_does(ui: Ui, tmp_path: Path) -> None:
    content = export_of_another_instance(tmp_path)
    csrf = ui.sign_in(ui.admin)
    assert ui.client.get("/admin/import").status_code == 200
    verified = _verify(ui, csrf, content)
    assert verified.status_code == 200, verified.text
    assert 'id="intact"' in verified.text and 'id="report-mode">merge' in verified.text
    rest = ui.rest("POST", "/v1/events/import?dry_run=true", content=content).json()  # the REST API's dry run
    count = rest["imported"]
    assert count >= 3 and rest["mode"] == "merge"
    assert "Intact: " in verified.text and f'id="report-imported">{count}<' in verified.text
    assert ui.rest("GET", "/v1/tenants/moved").status_code == 404  # the dry run wrote nothing
    form = _hidden(verified.text)
    imported = ui.client.post("/admin/import", data={"csrf": csrf, **form}, files={"none": ("", b"", "text/plain")})
    assert imported.status_code == 200, imported.text
    assert 'id="imported">Imported' in imported.text and f'id="report-imported">{count}<' in imported.text
    last = re.search(r'id="report-positions" data-last="(\d+)"', imported.text)
    assert last is not None
    assert ui.rest("GET", f"/v1/tenants/moved?min_position={last.group(1)}").json()["name"] == "moved"
    assert 'data-tenant="moved"' in ui.client.get(f"/admin/tenants?at={last.group(1)}").text
    again = ui.client.post("/admin/import", data={"csrf": csrf, **form}, files={"none": ("", b"", "text/plain")})
    assert again.status_code == 200 and 'id="report-skipped">' + str(count) in again.text  # a merge skips its own


def test_a_broken_or_swapped_file_is_refused_and_imports_nothing(ui: Ui, tmp_path: Path) -> None:
    content = export_of_another_instance(tmp_path)
    csrf = ui.sign_in(ui.admin)
    lines = content.splitlines()
    at = next(n for n, line in enumerate(lines) if b"Tool.Registered" in line)
    tampered = b"\n".join([*lines[:at], lines[at].replace(b'"version":1', b'"version":7'), *lines[at + 1 :]])
    refused = _verify(ui, csrf, tampered)
    assert refused.status_code == 422 and "hash chain breaks" in refused.text and 'id="import-form"' not in refused.text
    assert _verify(ui, csrf, b"not an export\n").status_code == 422
    empty = ui.client.post("/admin/import/verify", data={"csrf": csrf})
    assert empty.status_code == 422 and "choose an export file" in empty.text
    form = _hidden(_verify(ui, csrf, content).text)
    swapped = ui.client.post(
        "/admin/import",
        data={"csrf": csrf, "digest": form["digest"], "archive": tampered.decode()},
        files={"none": ("", b"", "text/plain")},
    )
    assert swapped.status_code == 422 and "not the one that was verified" in swapped.text
    assert ui.rest("GET", "/v1/tenants/moved").status_code == 404


def test_importing_needs_a_platform_admin_and_the_csrf_token(ui: Ui, tmp_path: Path) -> None:
    content = export_of_another_instance(tmp_path)
    admin_csrf = ui.sign_in(ui.admin)
    form = _hidden(_verify(ui, admin_csrf, content).text)
    files = {"none": ("", b"", "text/plain")}
    assert ui.client.post("/admin/import", data={**form, "csrf": "forged"}, files=files).status_code == 403
    assert _verify(ui, "forged", content).status_code == 403
    csrf = ui.sign_in(ui.token("admin"))
    assert ui.client.get("/admin/import").status_code == 403
    assert _verify(ui, csrf, content).status_code == 403
    assert ui.client.post("/admin/import", data={**form, "csrf": csrf}, files=files).status_code == 403
    assert 'href="/admin/import"' not in ui.client.get("/admin/").text
    assert ui.rest("GET", "/v1/tenants/moved").status_code == 404
