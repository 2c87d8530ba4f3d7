"""The admin UI's forms in a real headless Chromium against a real ``ledgergate serve`` process: a resource
created by upload, a prompt with its live preview, a tool schema refused as it is typed and fixed, and a real
upstream MCP server registered from the form, with its tools and its health history."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.api.conftest import ServerProcess
from tests.support.processes import serving
from tests.ui.conftest import served_gateway
from tests.ui.test_admin_browser import shot, sign_in

pytestmark = pytest.mark.slow

INTEGRATION = '{"method": "GET", "url": "https://api.example.com/weather/{city}"}'


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, str]]:
    """A served gateway that probes upstreams every second, so health transitions show within the test."""
    with served_gateway(tmp_path_factory, "ui-forms", LEDGERGATE_PROBE_INTERVAL_S="1") as served:
        yield served


@pytest.fixture
def page(browser: Any, gateway: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=gateway[0].url)
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    problems: list[str] = []

    def console(message: Any) -> None:
        if message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico"):
            problems.append(f"{message.text} ({message.location.get('url')})")

    page.on("console", console)
    try:
        yield page
        assert problems == []  # no CSP violation, no script error, no failed asset
    finally:
        context.close()


def rest(gateway: Any, path: str) -> Any:
    server, admin = gateway
    return httpx.get(f"{server.url}{path}", headers={"Authorization": f"Bearer {admin}"}, timeout=10).json()


def test_a_resource_is_created_by_uploading_a_file(page: Any, gateway: Any) -> None:
    sign_in(page, gateway[1])
    page.click("text=Resources")
    page.click("#new-resource")
    page.fill("#f-uri", "docs://handbook/welcome")
    page.fill("#f-name", "welcome")
    page.fill("#f-description", "The first page of the handbook")
    page.set_input_files(
        "#f-file", files=[{"name": "welcome.md", "mimeType": "text/markdown", "buffer": b"# Welcome\n\nHello.\n"}]
    )
    page.wait_for_selector("#live-ok")  # the create use case's dry run, as the form changes
    shot(page, "resource-form")
    page.click("#save")
    page.wait_for_selector("#history")
    assert page.locator("#entity-name").inner_text() == "welcome"
    assert "# Welcome" in page.locator('[data-field="text"]').inner_text()
    assert page.locator('[data-field="mime_type"]').inner_text() == "text/markdown"
    resource_id = page.url.split("?")[0].rsplit("/", 1)[1]
    assert rest(gateway, f"/v1/tenants/default/resources/{resource_id}")["text"] == "# Welcome\n\nHello.\n"
    page.click("#disable")  # enable, disable and delete, from its page
    page.wait_for_selector("#enable")
    page.click("#delete")  # confirmed in a dialog (accepted by the fixture)
    page.wait_for_selector("text=This resource is deleted")


def test_a_prompt_is_written_with_a_live_preview_of_its_rendering(page: Any, gateway: Any) -> None:
    sign_in(page, gateway[1])
    page.goto("/admin/t/default/prompts/new")
    page.fill("#f-name", "forecast")
    page.fill("#f-arguments", "city*: The city\nunits: metric or imperial")
    page.fill("#f-template", "Give the forecast for {{ city }}{% if units %} in {{ units }} units{% endif %}.")
    page.wait_for_selector("#live-error:has-text('missing required argument(s): city')")
    page.locator("#f-sample").press_sequentially("city=Lyon\nunits=metric")
    page.wait_for_selector(".preview-text:has-text('Give the forecast for Lyon in metric units.')")
    shot(page, "prompt-preview")
    page.click("#save")
    page.wait_for_selector("#history")
    prompt_id = page.url.split("?")[0].rsplit("/", 1)[1]
    stored = rest(gateway, f"/v1/tenants/default/prompts/{prompt_id}")
    assert [a["name"] for a in stored["arguments"]] == ["city", "units"] and stored["arguments"][0]["required"]
    page.click("#edit")
    page.fill("#f-sample", "city=Oslo")
    page.wait_for_selector(".preview-text:has-text('Give the forecast for Oslo.')")
    page.fill("#f-template", "Forecast: {{ city }}")
    page.click("#save")
    page.wait_for_selector("#history .step[data-version='2']")
    assert rest(gateway, f"/v1/tenants/default/prompts/{prompt_id}")["template"] == "Forecast: {{ city }}"


def test_a_tool_schema_is_refused_as_it_is_typed_and_fixed(page: Any, gateway: Any) -> None:
    sign_in(page, gateway[1])
    page.goto("/admin/t/default/tools/new")
    page.fill("#f-name", "typed-weather")
    page.fill("#f-integration", INTEGRATION)
    schema = page.locator("#f-input_schema")
    schema.fill("")
    schema.press_sequentially('{"type": "object", "properties": {"city": ')
    status = page.locator("#schema-status-input_schema")
    page.wait_for_selector("#schema-status-input_schema .schema-error:has-text('not valid JSON')")
    assert schema.get_attribute("aria-invalid") == "true"
    schema.press_sequentially('{"type": "strin"}}}')  # JSON now, but not a schema a tool accepts
    page.wait_for_selector("#schema-status-input_schema .schema-error:has-text('is not a valid JSON Schema')")
    assert "strin" in status.inner_text()
    shot(page, "schema-editor")
    schema.fill('{"type": "object", "properties": {"city": {"type": "string"}}}')
    page.wait_for_selector("#schema-status-input_schema .schema-ok")
    assert schema.get_attribute("aria-invalid") is None
    page.click("#format-input_schema")
    assert json.loads(schema.input_value()) == {"type": "object", "properties": {"city": {"type": "string"}}}
    assert "\n  " in schema.input_value()
    page.wait_for_selector("#live-ok")
    page.click("#save")
    page.wait_for_selector("#history")
    assert page.locator("#entity-name").inner_text() == "typed-weather"


def test_a_real_upstream_is_registered_from_the_form_and_shows_its_tools_and_health(page: Any, gateway: Any) -> None:
    sign_in(page, gateway[1])
    with serving("tests.support.upstream_server") as upstream_url:
        page.click("text=Upstreams")
        page.click("#new-upstream")
        assert not page.locator("#f-command").is_visible()  # stdio fields only for the stdio transport
        page.select_option("#f-transport", "stdio")
        assert page.locator("#f-command").is_visible() and not page.locator("#f-url").is_visible()
        page.select_option("#f-transport", "streamable_http")
        page.select_option("#f-auth_type", "bearer")
        assert page.locator("#f-auth_token").is_visible() and not page.locator("#f-auth_client_id").is_visible()
        page.select_option("#f-auth_type", "none")
        page.fill("#f-name", "weather")
        page.fill("#f-url", upstream_url)
        page.fill("#f-tags", "demo")
        shot(page, "upstream-form")
        page.click("#register")
        page.wait_for_selector("#refresh-report")
        assert "Discovered" in page.locator("#refresh-report h2").inner_text()
        added = page.locator("#refresh-report .report-added").inner_text()
        assert "echo" in added and "add" in added
        tools = page.locator("ul.upstream-tools").inner_text()
        assert "weather__echo" in tools and "weather__add" in tools
        shot(page, "upstream-discovered")
        # its own page (a reload of the answer to the form would send the form again)
        page.goto((page.get_attribute("form[action$='/refresh']", "action") or "").removesuffix("/refresh"))
        deadline = time.monotonic() + 30
        while "healthy" not in page.locator("#health-history").inner_text():  # probed every second
            assert time.monotonic() < deadline, "no health transition shown"
            time.sleep(0.5)
            page.reload()
        shot(page, "upstream-registered")
    # the upstream is gone: the next probes record it, and the history shows both states
    deadline = time.monotonic() + 30
    while "unreachable" not in page.locator("#health-history").inner_text():
        assert time.monotonic() < deadline, "the upstream's loss is not in its health history"
        time.sleep(0.5)
        page.reload()
    rows = page.locator("#health-history tr").all_inner_texts()
    assert "unreachable" in rows[1] and "until now" in rows[1] and "healthy" in rows[2]
