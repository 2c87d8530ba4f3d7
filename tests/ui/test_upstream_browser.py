"""A first user's upstream work in a real headless Chromium against a fresh ``ledgergate serve``, signed in
with the token of its first start: from the empty dashboard to a registered upstream (a reload of its page
registers nothing again), its settings changed from the form, a refresh that cannot reach it told on its
page, its history, and an upload over the body limit answered on the form."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import ServerProcess
from tests.support.processes import serving
from tests.ui.conftest import browser_page, served_gateway
from tests.ui.test_admin_browser import shot, sign_in

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, str]]:
    with served_gateway(tmp_path_factory, "ui-upstreams", LEDGERGATE_MAX_BODY_BYTES="65536") as served:
        yield served


@pytest.fixture
def page(browser: Any, gateway: Any) -> Iterator[Any]:
    with browser_page(browser, gateway[0].url) as page:
        yield page


def upstreams(gateway: Any) -> list[dict[str, Any]]:
    server, admin = gateway
    answer = httpx.get(f"{server.url}/v1/tenants/default/upstreams", headers={"Authorization": f"Bearer {admin}"})
    return list(answer.json()["items"])


def test_a_first_user_registers_edits_refreshes_and_reads_the_history_of_an_upstream(
    page: Any, gateway: Any, tmp_path: Path
) -> None:
    sign_in(page, gateway[1])
    page.click("#no-upstreams >> text=Register an upstream MCP server")
    with serving("tests.support.upstream_server") as url:
        page.fill("#f-name", "sdk")
        page.fill("#f-url", url)
        page.click("#register")
        page.wait_for_selector("#refresh-report")
        assert "report=" in page.url and "echo" in page.locator("#refresh-report").inner_text()
        page.reload()  # a GET: the report again, no second registration
        page.wait_for_selector("#refresh-report")
        assert len(upstreams(gateway)) == 1
        page.click("#edit")
        page.fill("#f-description", "the SDK's test server")
        page.select_option("#f-auth_type", "bearer")
        page.fill("#f-auth_token", "typed-secret")
        page.click("#save")
        page.wait_for_selector("#health")
        assert "the SDK's test server" in page.locator("main").inner_text()
        assert "typed-secret" not in page.content()
    page.click("#refresh")  # the upstream has stopped
    page.wait_for_selector("#refresh-error")
    assert "could not be discovered" in page.locator("#refresh-error").inner_text()
    assert "sdk__echo" in page.locator("ul.upstream-tools").inner_text()
    shot(page, "upstream-refresh-failed")
    page.click("#history-link")
    synced = page.locator("#history .step[data-event='CatalogSynced']")
    assert "tool echo" in synced.inner_text()
    assert "typed-secret" not in page.content()

    big = tmp_path / "big.txt"
    big.write_bytes(b"x" * 70_000)
    page.goto("/admin/t/default/resources/new")
    page.fill("#f-uri", "memo://big")
    page.fill("#f-name", "big")
    page.set_input_files("#f-file", str(big))
    page.click("#save")
    page.wait_for_selector("#error-file")
    message = page.locator("#error-file").inner_text()
    assert "LEDGERGATE_MAX_BODY_BYTES" in message and "ledgergate resources create" in message
