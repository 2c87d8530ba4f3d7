"""Create and edit forms for resources, prompts and virtual servers over HTTP (in process, SQLite and
PostgreSQL): a valid form writes through the registry with the signed-in user as actor; an invalid one shows
the use case's problem by its field and writes nothing; a forged CSRF token and a viewer are refused."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.ui.conftest import Ui

BASE = "/admin/t/default"
VALID = {
    "resources": {"uri": "docs://handbook/intro", "name": "intro", "text": "Hello", "tags": "docs, intro"},
    "prompts": {"name": "greet", "template": "Hello {{ who }}!", "arguments": "who*: whom to greet"},
    "servers": {"name": "team", "description": "The team's server", "tags": "team"},
}
#: an invalid form of each kind, and the field its problem names
INVALID = {
    "resources": ({"uri": "not a uri", "name": "intro", "text": "Hello"}, "uri"),
    "prompts": ({"name": "greet", "template": "Hello {{ who", "arguments": "who"}, None),
    "servers": ({"name": "bad name with spaces!", "description": ""}, "name"),
}


def rest_item(ui: Ui, plural: str, item_id: str, at: str) -> dict[str, Any]:
    """The item as REST reads it once the catalog has reached the write at ``at`` (read-your-writes)."""
    answer = ui.rest("GET", f"/v1/tenants/default/{plural}/{item_id}?min_position={at}")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def rest_items(ui: Ui, plural: str) -> list[dict[str, Any]]:
    answer = ui.rest("GET", f"/v1/tenants/default/{plural}")
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


def created_id(answer: Any, plural: str) -> tuple[str, str]:
    assert answer.status_code == 303, answer.text
    location = answer.headers["location"]
    assert location.startswith(f"{BASE}/{plural}/")
    path, _, at = location.partition("?at=")
    return path.rsplit("/", 1)[1], at


@pytest.mark.parametrize("plural", list(VALID))
def test_a_valid_form_creates_through_the_registry_as_the_signed_in_user(ui: Ui, plural: str) -> None:
    csrf = ui.sign_in(ui.admin)
    assert 'id="entity-form"' in ui.client.get(f"{BASE}/{plural}/new").text
    answer = ui.client.post(f"{BASE}/{plural}/new", data={"csrf": csrf, **VALID[plural]}, follow_redirects=False)
    item_id, at = created_id(answer, plural)
    page = ui.client.get(f"{BASE}/{plural}/{item_id}?at={at}")
    assert page.status_code == 200 and 'id="edit"' in page.text  # every kind has its edit form now
    got = rest_item(ui, plural, item_id, at)
    history = ui.rest("GET", f"/v1/tenants/default/{plural}/{item_id}/history").json()["versions"]
    assert history[0]["actor_token_id"] and history[0]["actor"].endswith("admin")
    if plural == "prompts":
        assert got["arguments"] == [{"name": "who", "description": "whom to greet", "required": True}]
    if plural == "resources":
        assert got["text"] == "Hello" and got["tags"] == ["docs", "intro"] and got["mime_type"] == "text/plain"


@pytest.mark.parametrize("plural", list(INVALID))
def test_an_invalid_form_shows_the_problem_by_its_field_and_writes_nothing(ui: Ui, plural: str) -> None:
    csrf = ui.sign_in(ui.admin)
    form, field = INVALID[plural]
    answer = ui.client.post(f"{BASE}/{plural}/new", data={"csrf": csrf, **form})
    assert answer.status_code == 422
    assert 'id="problem"' in answer.text
    if field is not None:
        assert f'id="error-{field}"' in answer.text
    assert 'value="' + form["name"] + '"' in answer.text  # what was typed is kept
    assert rest_items(ui, plural) == []


@pytest.mark.parametrize("plural", list(VALID))
def test_a_forged_csrf_token_and_a_viewer_are_refused_and_nothing_is_written(ui: Ui, plural: str) -> None:
    ui.sign_in(ui.admin)
    forged = ui.client.post(f"{BASE}/{plural}/new", data={"csrf": "forged", **VALID[plural]})
    assert forged.status_code == 403 and "CSRF" in forged.text
    csrf = ui.sign_in(ui.token("viewer"))
    assert ui.client.get(f"{BASE}/{plural}/new").status_code == 403
    assert f'id="new-{plural[:-1]}"' not in ui.client.get(f"{BASE}/{plural}").text
    refused = ui.client.post(f"{BASE}/{plural}/new", data={"csrf": csrf, **VALID[plural]})
    assert refused.status_code == 403
    assert ui.client.post(f"{BASE}/{plural}/check", data={"csrf": csrf, **VALID[plural]}).status_code == 403
    assert rest_items(ui, plural) == []


@pytest.mark.parametrize("plural", list(VALID))
def test_an_edit_changes_the_fields_conditionally_on_the_version_shown(ui: Ui, plural: str) -> None:
    csrf = ui.sign_in(ui.admin)
    item_id, at = created_id(
        ui.client.post(f"{BASE}/{plural}/new", data={"csrf": csrf, **VALID[plural]}, follow_redirects=False), plural
    )
    page = ui.client.get(f"{BASE}/{plural}/{item_id}/edit?at={at}")
    assert page.status_code == 200 and 'name="expected_version" value="1"' in page.text
    edited = {**VALID[plural], "description": "Edited", "csrf": csrf, "expected_version": "1"}
    answer = ui.client.post(f"{BASE}/{plural}/{item_id}/edit", data=edited, follow_redirects=False)
    _, edited_at = created_id(answer, plural)
    got = rest_item(ui, plural, item_id, edited_at)
    assert got["description"] == "Edited" and got["version"] == 2
    stale = ui.client.post(f"{BASE}/{plural}/{item_id}/edit", data={**edited, "description": "Stale"})
    assert stale.status_code == 422 and "version" in stale.text  # the API's version conflict, on the form
    assert rest_item(ui, plural, item_id, edited_at)["version"] == 2


def test_a_resource_is_created_from_an_uploaded_file(ui: Ui) -> None:
    csrf = ui.sign_in(ui.admin)
    form = {"csrf": csrf, "uri": "docs://notes", "name": "notes", "mime_type": ""}
    files = {"file": ("notes.md", b"# Notes\r\nline two\n", "text/markdown")}
    item_id, at = created_id(
        ui.client.post(f"{BASE}/resources/new", data=form, files=files, follow_redirects=False), "resources"
    )
    got = rest_item(ui, "resources", item_id, at)
    assert got["text"] == "# Notes\r\nline two\n" and got["mime_type"] == "text/markdown" and got["blob"] is None
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    files = {"file": ("logo.png", png, "image/png")}
    form = {"csrf": csrf, "uri": "img://logo", "name": "logo"}
    logo_id, at = created_id(
        ui.client.post(f"{BASE}/resources/new", data=form, files=files, follow_redirects=False), "resources"
    )
    logo = rest_item(ui, "resources", logo_id, at)
    assert base64.b64decode(logo["blob"]) == png and logo["text"] is None and logo["mime_type"] == "image/png"
    # editing a binary resource without a new file keeps its content
    page = ui.client.get(f"{BASE}/resources/{logo_id}/edit?at={at}")
    assert 'id="stored-blob"' in page.text and f"({len(png)} bytes)" in page.text
    edit = {"csrf": csrf, "uri": "img://logo", "name": "logo", "title": "Logo", "stored": "blob", "text": ""}
    files = {"file": ("", b"", "application/octet-stream")}  # what a browser sends when no file is chosen
    answer = ui.client.post(f"{BASE}/resources/{logo_id}/edit", data=edit, files=files, follow_redirects=False)
    _, kept_at = created_id(answer, "resources")
    kept = rest_item(ui, "resources", logo_id, kept_at)
    assert kept["title"] == "Logo" and base64.b64decode(kept["blob"]) == png


def test_typed_text_content_keeps_its_line_ends_as_unix_ones(ui: Ui) -> None:
    csrf = ui.sign_in(ui.admin)
    form = {"csrf": csrf, "uri": "docs://typed", "name": "typed", "text": "one\r\ntwo"}
    item_id, at = created_id(ui.client.post(f"{BASE}/resources/new", data=form, follow_redirects=False), "resources")
    assert rest_item(ui, "resources", item_id, at)["text"] == "one\ntwo"


def test_the_prompt_preview_renders_the_sample_arguments_as_prompts_get_would(ui: Ui) -> None:
    csrf = ui.sign_in(ui.admin)
    form = {"csrf": csrf, **VALID["prompts"], "sample": "who=<World>"}
    preview = ui.client.post(f"{BASE}/prompts/check", data=form)
    assert preview.status_code == 200 and 'id="live-ok"' in preview.text
    assert '<pre class="preview-text">Hello &lt;World&gt;!</pre>' in preview.text  # rendered, then escaped
    missing = ui.client.post(f"{BASE}/prompts/check", data={**form, "sample": ""})
    assert 'id="live-error"' in missing.text and "missing required argument(s): who" in missing.text
    broken = ui.client.post(f"{BASE}/prompts/check", data={**form, "template": "{% for %}"})
    assert 'id="live-error"' in broken.text and "template" in broken.text
    bad_sample = ui.client.post(f"{BASE}/prompts/check", data={**form, "sample": "no equals sign"})
    assert 'data-field="sample"' in bad_sample.text
    assert rest_items(ui, "prompts") == []  # previews write nothing


@pytest.mark.parametrize("plural", list(VALID))
def test_each_kind_is_disabled_enabled_and_deleted_from_its_page(ui: Ui, plural: str) -> None:
    csrf = ui.sign_in(ui.admin)
    item_id, at = created_id(
        ui.client.post(f"{BASE}/{plural}/new", data={"csrf": csrf, **VALID[plural]}, follow_redirects=False), plural
    )
    page = ui.client.get(f"{BASE}/{plural}/{item_id}?at={at}").text
    assert 'id="disable"' in page and 'hx-confirm="Delete' in page  # a delete asks first
    for action, enabled in (("disable", False), ("enable", True)):
        answer = ui.client.post(f"{BASE}/{plural}/{item_id}/{action}", data={"csrf": csrf}, follow_redirects=False)
        _, at = created_id(answer, plural)
        assert rest_item(ui, plural, item_id, at)["enabled"] is enabled
    viewer_csrf = ui.sign_in(ui.token("viewer"))
    refused = ui.client.post(f"{BASE}/{plural}/{item_id}/delete", data={"csrf": viewer_csrf})
    assert refused.status_code == 403
    csrf = ui.sign_in(ui.admin)
    answer = ui.client.post(f"{BASE}/{plural}/{item_id}/delete", data={"csrf": csrf}, follow_redirects=False)
    _, at = created_id(answer, plural)
    assert "is deleted" in ui.client.get(f"{BASE}/{plural}/{item_id}?at={at}").text
    assert ui.rest("GET", f"/v1/tenants/default/{plural}/{item_id}?min_position={at}").status_code in (404, 410)
