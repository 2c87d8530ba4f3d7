"""``ledgergate import contextforge`` as a real process on a SQLite store, then read back through a real gateway."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from ledgergate.api.bootstrap import first_start
from ledgergate.api.runtime import build_runtime
from tests.api.conftest import start_server
from tests.conftest import make_settings
from tests.e2e.test_cli import run
from tests.e2e.test_upstreams import Gateway

pytestmark = pytest.mark.slow
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "contextforge_export.json"


def log_head(data: Path) -> int:
    runtime = build_runtime(make_settings(data), follow=False)
    try:
        return runtime.registry.recorder.max_notification_id() or 0
    finally:
        runtime.close()


@pytest.fixture
def data(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    runtime = build_runtime(make_settings(data), follow=False)
    try:
        first_start(runtime)
    finally:
        runtime.close()
    return data


def import_json(data: Path, *args: str) -> dict[str, Any]:
    result = run(data, "import", "contextforge", str(FIXTURE), "--json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_a_dry_run_prints_the_plan_as_a_table_and_writes_nothing(data: Path) -> None:
    before = log_head(data)

    result = run(data, "import", "contextforge", str(FIXTURE), "--dry-run")

    assert result.returncode == 0, result.stderr
    assert log_head(data) == before
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Would import into tenant 'default' from http://0.0.0.0:4444")
    assert any(line.split()[:4] == ["would", "create", "tool", "get_weather"] for line in lines)
    assert "Secrets that could not be read" in result.stdout
    assert lines[-1] == "8 would create, 7 skipped"


def test_an_import_is_served_by_the_gateway_and_importing_again_changes_nothing(data: Path) -> None:
    report = import_json(data)
    assert report["counts"] == {
        "created": 8,
        "would create": 0,
        "exists": 0,
        "failed": 0,
        "would fail": 0,
        "skipped": 7,
    }
    head = log_head(data)

    again = import_json(data)

    assert log_head(data) == head
    assert {item["status"] for item in again["items"]} == {"exists"}
    ids = {item["name"]: item["id"] for item in report["items"]}
    server = start_server(data)
    try:
        gateway = Gateway(server=server, token=(data / "admin-token").read_text().strip())
        tools = gateway.call("GET", f"/tools?min_position={head}").json()["items"]
        assert {(t["name"], t["enabled"]) for t in tools} == {
            ("get_weather", True),
            ("create_ticket", False),
            ("convert_currency", False),
        }
        weather = gateway.call("GET", f"/tools/{ids['get_weather']}").json()
        assert weather["integration"]["headers"] == {"Accept": "********", "X-Client-Id": "********"}
        upstreams = gateway.call("GET", "/upstreams").json()["items"]
        assert {(u["name"], u["enabled"]) for u in upstreams} == {("time-server", False), ("docs-mcp", False)}
        listed, rendered, served = asyncio.run(read_over_mcp(gateway, ids["ai-tools-server"]))
    finally:
        server.stop()
    assert listed == ["get_weather"]  # the disabled tools are not offered
    assert rendered == "Summarize the following text in a neutral tone:\n\nledgers"
    assert served == ["get_weather"]


async def read_over_mcp(gateway: Gateway, server_id: str) -> tuple[list[str], str, list[str]]:
    async with gateway.client() as session:
        listed = sorted(t.name for t in (await session.list_tools()).tools)
        prompt = await session.get_prompt("summarize", {"text": "ledgers"})
    async with gateway.client(f"/servers/{server_id}/mcp") as session:
        served = sorted(t.name for t in (await session.list_tools()).tools)
    return listed, prompt.messages[0].content.text, served  # type: ignore[union-attr]


def test_a_file_that_is_not_a_contextforge_export_is_refused_with_the_reason_and_nothing_is_written(
    data: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"version": "2025-03-26", "exported_at": "2025-06-02T09:14:51Z", "entities": []}))
    before = log_head(data)

    result = run(data, "import", "contextforge", str(bad))

    assert result.returncode == 4  # invalid input
    assert "is not a valid ContextForge export, nothing imported: 'entities' must be an object" in result.stderr
    assert "Traceback" not in result.stderr
    assert log_head(data) == before
    missing = run(data, "import", "contextforge", str(FIXTURE), "--tenant", "nope")
    assert missing.returncode == 3  # not found
    assert "no tenant 'nope'" in missing.stderr
