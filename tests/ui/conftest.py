"""Admin UI fixtures: a real ``ledgergate serve`` process and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient

from ledgergate.api.app import create_app
from ledgergate.api.bootstrap import first_start
from ledgergate.api.runtime import build_runtime
from ledgergate.infrastructure.settings import Settings
from tests.api.conftest import ServerProcess, start_server

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Where the tests save screenshots of the main pages (the best are copied into docs/ by hand).
SCREENSHOTS = Path(os.environ.get("LEDGERGATE_UI_SCREENSHOTS") or Path(tempfile.gettempdir()) / "ledgergate-ui-shots")


def chromium_path() -> str | None:
    for candidate in (os.environ.get("LEDGERGATE_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser tests need {reason} when CI=true")
    pytest.skip(f"browser tests skipped: {reason}")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package (pip install -e '.[dev]')")
    path = chromium_path()
    if path is None:
        _unavailable("Chromium (apt-get install -y chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@contextmanager
def served_gateway(
    tmp_path_factory: pytest.TempPathFactory, name: str = "ui", **env: str
) -> Iterator[tuple[ServerProcess, str]]:
    """A served gateway on SQLite (``env``: its settings) and its bootstrap platform-admin token."""
    data = tmp_path_factory.mktemp(name) / "data"
    server = start_server(data, **env)
    try:
        yield server, (data / "admin-token").read_text().strip()
    finally:
        server.stop()


@contextmanager
def browser_page(browser: Any, base_url: str, height: int = 900) -> Iterator[Any]:
    """A page in a fresh browser context on ``base_url`` that accepts confirmation dialogs."""
    context = browser.new_context(viewport={"width": 1280, "height": height}, base_url=base_url)
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    try:
        yield page
    finally:
        context.close()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, str]]:
    """A served gateway on SQLite and its bootstrap platform-admin token (from data/admin-token)."""
    with served_gateway(tmp_path_factory) as served:
        yield served


def issue_token(base: str, admin: str, role: str, name: str) -> str:
    answer = httpx.post(
        f"{base}/v1/tenants/default/tokens",
        headers={"Authorization": f"Bearer {admin}"},
        json={"name": name, "role": role},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["token"])


TOOL = {
    "name": "probe",
    "input_schema": {"type": "object"},
    "integration": {"method": "GET", "url": "https://api.example.com/x"},
}


class Ui:
    def __init__(self, client: TestClient[Any], admin: str) -> None:
        self.client = client
        self.admin = admin

    def rest(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {token or self.admin}"}
        return self.client.request(method, path, headers=headers, **kwargs)

    def token(self, role: str, **extra: Any) -> str:
        return self.issue(role, **extra)[0]

    def issue(self, role: str, **extra: Any) -> tuple[str, str]:
        answer = self.rest(
            "POST", "/v1/tenants/default/tokens", json={"name": f"ui-{role}-{time.time_ns()}", "role": role, **extra}
        )
        assert answer.status_code == 201, answer.text
        return str(answer.json()["token"]), str(answer.json()["id"])

    def sign_in(self, token: str) -> str:
        """Signs in; returns the session's CSRF token."""
        self.client.cookies.clear()
        answer = self.client.post("/admin/login", data={"token": token}, follow_redirects=False)
        assert answer.status_code == 303, answer.text
        page = self.client.get("/admin/")
        assert page.status_code == 200
        found = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert found is not None
        return found.group(1)

    def tool(self) -> dict[str, Any]:
        answer = self.rest("POST", "/v1/tenants/default/tools", json={**TOOL, "name": f"probe-{time.time_ns()}"})
        assert answer.status_code == 201, answer.text
        return dict(answer.json())


@pytest.fixture
def ui(settings: Settings) -> Iterator[Ui]:
    runtime = build_runtime(settings)
    started = first_start(runtime)
    assert started.token is not None
    try:
        with TestClient(create_app(settings, runtime=runtime)) as client:
            yield Ui(client, started.token)
    finally:
        runtime.close()
