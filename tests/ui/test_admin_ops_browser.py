"""The admin UI's operations in a real headless Chromium against real ``ledgergate serve`` processes:
import, the playground, tenants, and signing out across processes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ledgergate.api.ui.sessions import COOKIE
from tests.api.conftest import start_server
from tests.support.echo import echo_service
from tests.support.processes import serving
from tests.ui.conftest import SCREENSHOTS
from tests.ui.test_admin_operations import export_of_another_instance

pytestmark = pytest.mark.slow


@pytest.fixture
def context(browser: Any, gateway: Any) -> Iterator[Any]:
    made = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=gateway[0].url)
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def page(context: Any) -> Any:
    opened = context.new_page()
    opened.on("dialog", lambda dialog: dialog.accept())
    return opened


def sign_in(page: Any, token: str, base: str = "") -> None:
    page.goto(f"{base}/admin/")
    page.fill("#token", token)
    page.click("#sign-in")
    page.wait_for_selector("text=Dashboard")


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def rest(gateway: Any, method: str, path: str, **kwargs: Any) -> httpx.Response:
    server, admin = gateway
    return httpx.request(method, server.url + path, headers={"Authorization": f"Bearer {admin}"}, timeout=60, **kwargs)


def test_a_platform_admin_uploads_an_export_sees_its_report_and_imports_it(
    page: Any, gateway: Any, tmp_path: Path
) -> None:
    exported = tmp_path / "moved.jsonl"
    exported.write_bytes(export_of_another_instance(tmp_path))
    sign_in(page, gateway[1])
    page.click("nav >> text=Import")
    page.set_input_files("#file", str(exported))
    page.click("#verify")
    page.wait_for_selector("#import-report")
    assert page.locator("#intact").inner_text().startswith("Intact:")
    assert page.locator("#report-mode").inner_text().startswith("merge")
    would = int(page.locator("#report-imported").inner_text())
    assert would >= 3
    shot(page, "admin-import")
    page.click("#import")
    page.wait_for_selector("#import-result")
    assert page.locator("#imported").inner_text() == "Imported"
    assert int(page.locator("#report-imported").inner_text()) == would
    page.click("#to-tenants")  # the list waits for the import's last position
    page.wait_for_selector("tr[data-tenant='moved']")


def test_a_tool_is_called_from_its_schema_form_and_an_upstream_image_is_shown(page: Any, gateway: Any) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}, "unit": {"enum": ["c", "f"]}},
        "required": ["city"],
    }
    with echo_service() as echo, serving("tests.support.conformance_upstream") as conformance:
        body = {"name": "forecast", "input_schema": schema, "integration": {"method": "POST", "url": echo + "/f"}}
        created = rest(gateway, "POST", "/v1/tenants/default/tools", json=body)
        assert created.status_code == 201, created.text
        upstream = {"name": "conf", "transport": "streamable_http", "url": conformance}
        registered = rest(gateway, "POST", "/v1/tenants/default/upstreams", json=upstream)
        assert registered.status_code == 201, registered.text
        sign_in(page, gateway[1])
        page.goto(f"/admin/playground?at={registered.json()['position']}")
        page.click("a[data-tool='forecast']")
        page.fill("[id='arg.city']", "Oslo")
        page.fill("[id='arg.days']", "3")
        page.select_option("[id='arg.unit']", "f")
        page.click("#run")
        page.wait_for_selector("#result")
        echoed = json.loads(page.locator(".result-text").first.inner_text())
        assert echoed["body"] == {"city": "Oslo", "days": 3, "unit": "f"}
        shot(page, "admin-playground")
        page.goto("/admin/playground?tool=conf__test_image_content")
        page.click("#run")
        image = page.wait_for_selector("img.result-image")
        assert image.evaluate("img => img.complete && img.naturalWidth") == 1  # the CSP lets data: images in


def test_a_platform_admin_creates_and_disables_a_tenant(page: Any, gateway: Any) -> None:
    sign_in(page, gateway[1])
    page.click("nav >> text=Tenants")
    page.fill("#tenant-name", "globex")
    page.fill("#tenant-display", "Globex Corp")
    page.click("#create")
    page.wait_for_selector("#done")
    assert page.locator("#done").inner_text() == "Tenant globex created."
    row = page.locator("tr[data-tenant='globex']")
    assert "Globex Corp" in row.locator("input[name='display_name']").input_value()
    shot(page, "admin-tenants")
    row.locator("button[data-action='disable']").click()
    page.wait_for_selector("#done")
    assert page.locator("#done").inner_text() == "Tenant globex disabled."
    assert page.locator("tr[data-tenant='globex'] button[data-action='enable']").is_visible()


@pytest.mark.postgres
@pytest.mark.redis
def test_signing_out_in_the_browser_ends_the_session_on_another_process(
    browser: Any, tmp_path: Path, postgres_url: str, redis_url: str
) -> None:
    data = tmp_path / "data"
    first = start_server(data, postgres_url, LEDGERGATE_REDIS_URL=redis_url)
    second = start_server(data, postgres_url, workers=2, LEDGERGATE_REDIS_URL=redis_url)
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    try:
        page = context.new_page()
        sign_in(page, (data / "admin-token").read_text().strip(), first.url)
        session = next(c for c in context.cookies() if c["name"] == COOKIE)
        page.goto(f"{second.url}/admin/")  # a cookie is the host's, whatever the port: the other process
        page.wait_for_selector("text=Dashboard")
        page.goto(f"{first.url}/admin/")
        page.click("#sign-out")
        page.wait_for_selector("#token")
        context.add_cookies([session])  # the ended session's cookie, presented again
        for _ in range(5):  # each a new page load, to either of the second process's workers
            page.goto(f"{second.url}/admin/")
            assert "/admin/login" in page.url
    finally:
        context.close()
        second.stop()
        first.stop()
