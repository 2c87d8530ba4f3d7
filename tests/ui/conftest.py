"""Admin UI fixtures: a real ``ledgergate serve`` process and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

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


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, str]]:
    """A served gateway on SQLite and its bootstrap platform-admin token (from data/admin-token)."""
    data = tmp_path_factory.mktemp("ui") / "data"
    server = start_server(data)
    try:
        yield server, (data / "admin-token").read_text().strip()
    finally:
        server.stop()


def issue_token(base: str, admin: str, role: str, name: str) -> str:
    answer = httpx.post(
        f"{base}/v1/tenants/default/tokens",
        headers={"Authorization": f"Bearer {admin}"},
        json={"name": name, "role": role},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["token"])
