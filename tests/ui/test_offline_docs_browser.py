"""The documentation pages in Chromium with every request to another host blocked, as on a machine offline."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture
def offline(browser: Any, gateway: Any) -> Iterator[tuple[Any, list[str], list[str]]]:
    """A page whose requests leave the gateway's origin never; what it tried, and what it logged as errors."""
    origin = urlsplit(gateway[0].url).netloc
    context = browser.new_context(viewport={"width": 1280, "height": 860}, base_url=gateway[0].url)
    blocked: list[str] = []
    errors: list[str] = []

    def route(request_route: Any) -> None:
        url = request_route.request.url
        if urlsplit(url).netloc == origin or url.startswith(("data:", "blob:")):
            request_route.continue_()
        else:
            blocked.append(url)
            request_route.abort("internetdisconnected")

    context.route("**/*", route)
    page = context.new_page()
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield page, blocked, errors
    finally:
        context.close()


def test_redoc_renders_the_api_title_offline(offline: tuple[Any, list[str], list[str]]) -> None:
    page, blocked, errors = offline
    page.goto("/docs")
    title = page.locator("#redoc-container h1").first
    title.wait_for(state="visible", timeout=30_000)
    assert title.inner_text().startswith("Ledgergate")
    page.get_by_text("/v1/tenants/{tenant}/tools", exact=False).first.wait_for(state="attached", timeout=10_000)
    assert blocked == []
    # the policy holds back what the bundle would fetch elsewhere (ReDoc's footer logo): the page does not miss it
    assert [e for e in errors if "violates the following Content Security Policy" not in e] == []


def test_swagger_ui_renders_offline_and_its_authorize_dialog_offers_the_bearer_token(
    offline: tuple[Any, list[str], list[str]],
) -> None:
    page, blocked, errors = offline
    page.goto("/docs/swagger")
    title = page.locator(".swagger-ui .info .title").first
    title.wait_for(state="visible", timeout=30_000)
    assert title.inner_text().startswith("Ledgergate")
    page.locator("button.authorize").first.click()
    dialog = page.locator(".dialog-ux .modal-ux")
    dialog.wait_for(state="visible", timeout=10_000)
    assert "BearerToken" in dialog.inner_text()
    assert dialog.locator("input[type=text], input[type=password]").count() >= 1
    assert blocked == []
    assert errors == []
