"""Issuing a token from the tokens page: a form sent again (a reload of the answer, a double click, another
worker) issues nothing new and never shows a secret again (SQLite and PostgreSQL, in process)."""

from __future__ import annotations

import re
from typing import Any

from litestar.testing import TestClient

from ledgergate.api.app import create_app
from ledgergate.api.runtime import build_runtime
from ledgergate.infrastructure.settings import Settings
from tests.ui.conftest import Ui

JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]+")
FIELD = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)"')


def issue_form(ui: Ui, name: str) -> dict[str, str]:
    """The tokens page's issue form as the browser would send it: its hidden fields and the typed ones."""
    page = ui.client.get("/admin/t/default/tokens")
    assert page.status_code == 200
    form = page.text[page.text.index('id="issue-form"') :]
    form = form[: form.index("</form>")]
    return {**dict(FIELD.findall(form)), "name": name, "role": "viewer", "expires_in_s": ""}


def tokens_named(ui: Ui, name: str, at: int) -> list[dict[str, Any]]:
    items = ui.rest("GET", f"/v1/tenants/default/tokens?limit=500&min_position={at}").json()["items"]
    return [t for t in items if t["name"] == name]


def position_of(answer: Any) -> int:
    found = re.search(r"tokens\?at=(\d+)", answer.text)
    assert found is not None, answer.text
    return int(found.group(1))


def test_a_resent_issue_form_issues_no_second_token_and_shows_no_secret(ui: Ui) -> None:
    ui.sign_in(ui.admin)
    page = ui.client.get("/admin/t/default/tokens").text
    assert "data-once" in page and ui.client.get("/admin/static/once.js").status_code == 200  # one click, one POST
    form = issue_form(ui, "reloaded")

    first = ui.client.post("/admin/t/default/tokens/new", data=form)
    again = ui.client.post("/admin/t/default/tokens/new", data=form)  # the reload re-sends the same POST

    assert first.status_code == 201 and 'id="issued-token"' in first.text and JWT.search(first.text)
    assert again.status_code == 409 and "already issued" in again.text
    assert 'id="issued-token"' not in again.text and JWT.search(again.text) is None
    [token] = tokens_named(ui, "reloaded", max(position_of(first), position_of(again)))
    assert f"/tokens/{token['id']}/revoke" in again.text  # the one issued can be revoked from here
    fresh = issue_form(ui, "reloaded")
    assert len(fresh["issue_key"]) >= 22 and fresh["issue_key"] != form["issue_key"]  # a random key per form
    other = ui.client.post("/admin/t/default/tokens/new", data=fresh)
    assert other.status_code == 201 and len(tokens_named(ui, "reloaded", position_of(other))) == 2


def test_an_issue_form_sent_to_another_worker_issues_nothing_new(ui: Ui, settings: Settings) -> None:
    """Two runtimes on one store stand for two worker processes: the key's use is in the store, not a process."""
    ui.sign_in(ui.admin)
    form = issue_form(ui, "two-workers")
    first = ui.client.post("/admin/t/default/tokens/new", data=form)
    assert first.status_code == 201
    other_runtime = build_runtime(settings)
    try:
        with TestClient(create_app(settings, runtime=other_runtime)) as other:
            other.cookies.update(ui.client.cookies)
            again = other.post("/admin/t/default/tokens/new", data=form)
    finally:
        other_runtime.close()
    assert again.status_code == 409 and JWT.search(again.text) is None
    assert len(tokens_named(ui, "two-workers", max(position_of(first), position_of(again)))) == 1


def test_an_issue_form_without_its_key_issues_nothing(ui: Ui) -> None:
    ui.sign_in(ui.admin)
    form = issue_form(ui, "keyless")
    for key in ("", "short", "x" * 200, "not a key!" * 3):
        refused = ui.client.post("/admin/t/default/tokens/new", data={**form, "issue_key": key})
        assert refused.status_code == 422 and JWT.search(refused.text) is None and "reload" in refused.text.lower()
    assert tokens_named(ui, "keyless", 0) == []
