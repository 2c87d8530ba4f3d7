"""History pages of upstreams and tokens, and the lists' filter by upstream, over HTTP (in process,
SQLite and PostgreSQL) against real upstream MCP servers started by the tests."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any

import pytest

from ledgergate.application.ports import ItemFilter
from ledgergate.application.secrets import MASK
from tests.support.processes import serving
from tests.ui.conftest import TOOL, Ui

SECRET = "upstream-s3cret-value"


@pytest.fixture
def upstream_urls() -> Iterator[tuple[str, str]]:
    with serving("tests.support.upstream_server") as one, serving("tests.support.upstream_server") as two:
        yield one, two


def register(ui: Ui, name: str, url: str, **extra: Any) -> dict[str, Any]:
    body = {"name": name, "transport": "streamable_http", "url": url, **extra}
    answer = ui.rest("POST", "/v1/tenants/default/upstreams", json=body)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def steps(page: str) -> list[tuple[str, str]]:
    return re.findall(r'<li class="step" data-version="(\d+)" data-event="([A-Za-z]+)">', page)


def test_an_upstreams_history_shows_each_version_with_its_diff_actor_and_masked_secrets(
    ui: Ui, upstream_urls: tuple[str, str]
) -> None:
    upstream = register(ui, "hist", upstream_urls[0], auth={"type": "bearer", "token": SECRET})
    changed = ui.rest("PATCH", f"/v1/tenants/default/upstreams/{upstream['id']}", json={"description": "the first"})
    assert changed.status_code == 200, changed.text
    disabled = ui.rest("POST", f"/v1/tenants/default/upstreams/{upstream['id']}/disable").json()
    ui.sign_in(ui.token("viewer"))
    page = ui.client.get(f"/admin/t/default/upstreams/{upstream['id']}/history?at={disabled['position']}")
    assert page.status_code == 200
    events = [event for _, event in steps(page.text)]
    assert events[0] == "Disabled" and "Updated" in events and events[-1] == "Registered"
    assert [int(v) for v, _ in steps(page.text)] == sorted((int(v) for v, _ in steps(page.text)), reverse=True)
    updated = page.text.split('data-event="Updated"')[1].split("</li>")[0]
    assert "<th>description</th>" in updated and "the first" in updated  # the field diff
    versions = ui.rest("GET", f"/v1/tenants/default/upstreams/{upstream['id']}?min_position=0").json()
    assert versions["version"] == int(steps(page.text)[0][0])
    registered = page.text.split('data-event="Registered"')[1]
    assert SECRET not in page.text and html.escape(MASK) in registered  # the token is masked, as on REST
    assert "revert" not in registered and 'name="version"' not in page.text  # REST reverts no upstream
    assert 'id="history-link"' in ui.client.get(f"/admin/t/default/upstreams/{upstream['id']}").text


def test_a_tokens_history_shows_its_grant_and_revocation_to_admins_only(ui: Ui) -> None:
    _, token_id = ui.issue("editor")
    revoked = ui.rest("DELETE", f"/v1/tenants/default/tokens/{token_id}").json()
    ui.sign_in(ui.token("admin"))
    page = ui.client.get(f"/admin/t/default/tokens/{token_id}/history?at={revoked['position']}")
    assert page.status_code == 200
    assert [event for _, event in steps(page.text)] == ["Revoked", "Issued"]
    issued = page.text.split('data-event="Issued"')[1]
    assert "<th>role</th>" in issued and "editor" in issued and "<th>subject</th>" in issued
    assert "<th>revoked</th>" in page.text.split('data-event="Revoked"')[1].split("</li>")[0]
    assert f"/admin/t/default/tokens/{token_id}/history" in ui.client.get("/admin/t/default/tokens").text
    ui.sign_in(ui.token("editor"))
    assert ui.client.get(f"/admin/t/default/tokens/{token_id}/history").status_code == 403


def test_history_pages_refuse_other_kinds_unknown_ids_and_other_tenants(ui: Ui) -> None:
    tool = ui.tool()
    ui.sign_in(ui.admin)
    assert ui.client.get(f"/admin/t/default/upstreams/{tool['id']}/history").status_code == 404  # a tool's id
    assert ui.client.get("/admin/t/default/tokens/not-an-id/history").status_code == 404
    assert ui.client.get(f"/admin/t/default/tools/{tool['id']}/history").status_code == 404
    assert ui.rest("POST", "/v1/tenants", json={"name": "other"}).status_code == 201
    ui.sign_in(ui.token("admin"))
    _, token_id = ui.issue("viewer")
    assert ui.client.get(f"/admin/t/other/tokens/{token_id}/history").status_code == 403


def test_the_lists_filter_by_upstream_and_keyset_paging_keeps_the_filter(
    ui: Ui, upstream_urls: tuple[str, str]
) -> None:
    one = register(ui, "one", upstream_urls[0])
    two = register(ui, "two", upstream_urls[1])
    # local tools whose names sort between the upstream's: the filter must skip them, page after page
    for name in ("one__b-local", "one__d-local", "two__a-local"):
        assert ui.rest("POST", "/v1/tenants/default/tools", json={**TOOL, "name": name}).status_code == 201
    last = ui.rest("POST", "/v1/tenants/default/tools", json={**TOOL, "name": "zz-local"}).json()
    ui.sign_in(ui.token("viewer"))
    page = ui.client.get(f"/admin/t/default/tools?upstream={one['id']}&at={last['position']}")
    assert page.status_code == 200
    names = re.findall(r'<a href="/admin/t/default/tools/[0-9a-f-]+">([^<]+)</a>', page.text)
    assert names and all(n.startswith("one__") and not n.endswith("-local") for n in names)
    assert "one__echo" in names and "one__add" in names
    assert f'<option value="{two["id"]}"' in page.text and "from two" in page.text
    assert re.findall(
        r'<a href="/admin/t/default/prompts/[0-9a-f-]+">([^<]+)</a>',
        ui.client.get(f"/admin/t/default/prompts?upstream={two['id']}").text,
    ) == ["two__review"]
    queries = ui.client.app.state.runtime.queries  # the query behind the page and /v1/.../tools, 2 at a time
    seen: list[str] = []
    cursor = None
    while True:
        items, cursor = queries.list("default", "tool", ItemFilter(upstream_id=one["id"]), cursor, 2)
        seen += [item["name"] for item in items]
        if cursor is None:
            break
    assert seen == names and len(seen) >= 5
