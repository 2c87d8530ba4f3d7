"""The official MCP conformance suite through the gateway (``make conformance``), and the MCP Inspector CLI.

Node 22 and the npm packages are installed into the project's cache by ``conformance.toolchain``. Without
npm these tests skip, except under CI=true, where a Node that cannot be installed fails them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from conformance import stack, toolchain
from tests.conftest import IN_CI

pytestmark = pytest.mark.slow


def installed(*, inspector: bool = False) -> toolchain.Toolchain:
    if not toolchain.npm_available():
        if IN_CI:
            pytest.fail("npm is not installed: CI=true needs it to install Node 22 for the conformance suite")
        pytest.skip("npm is not installed (the conformance suite and the Inspector need Node 22 from npm)")
    try:
        return toolchain.install(inspector=inspector)
    except toolchain.ToolchainError as exc:
        pytest.fail(f"Node 22 or the suites could not be installed: {exc}")


def outcomes(results: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for row in results["rows"].values():
        for label, result in row.items():
            if label != "label":
                yield f"{row['label']} · {label}", result


def failing_scenarios(results: dict[str, Any]) -> list[str]:
    return [
        f"{where} · {scenario}: {checks[0]}"
        for where, result in outcomes(results)
        for scenario, checks in (result.get("failed") or {}).items()
    ]


def test_every_scored_conformance_scenario_passes_in_every_row(tmp_path: Path) -> None:
    installed()
    results_file = tmp_path / "results.json"
    command = ["make", "-s", "conformance", f"JSON={results_file}"] if shutil.which("make") else None
    command = command or [sys.executable, "-m", "conformance.run", "--json", str(results_file)]
    done = subprocess.run(command, cwd=stack.ROOT, capture_output=True, text=True, timeout=1500, check=False)
    assert results_file.exists(), f"the harness wrote no results (exit {done.returncode}):\n{done.stdout[-4000:]}"
    results = json.loads(results_file.read_text())
    not_started = [f"{where}: {r.get('error')}" for where, r in outcomes(results) if r.get("total") is None]
    assert not not_started, "rows that could not start:\n" + "\n".join(not_started)
    baseline = results["rows"]["fixture"]
    assert all(baseline[c]["passed"] == baseline[c]["total"] > 0 for c in baseline if c != "label"), (
        "the fixture itself must pass every scored scenario:\n" + "\n".join(failing_scenarios(results))
    )
    failing = failing_scenarios(results)
    if failing:
        raise AssertionError(f"{len(failing)} scored scenarios fail:\n" + "\n".join(failing))
    assert done.returncode == 0, done.stdout[-4000:]


@pytest.fixture
def published_fixture(tmp_path: Path) -> Iterator[tuple[stack.Gateway, stack.Published]]:
    with ExitStack() as exits:
        fixture, url = stack.start_fixture("http", tmp_path)
        exits.callback(fixture.stop)
        gateway = stack.start_gateway(tmp_path, "gateway")
        exits.callback(gateway.process.stop)
        yield gateway, stack.publish(gateway, "inspected", {"transport": "streamable_http", "url": url})


def inspect(tools: toolchain.Toolchain, home: Path, url: str, token: str, *args: str) -> dict[str, object]:
    command = [str(toolchain.Toolchain.inspector()), "--cli", url, "--transport", "http"]
    command += ["--header", f"Authorization: Bearer {token}", *args]
    # HOME: the Inspector keeps a catalog of servers there
    done = subprocess.run(
        command, env={**tools.env(), "HOME": str(home)}, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"inspector {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return dict(json.loads(done.stdout))


def test_the_mcp_inspector_cli_lists_and_calls_tools_through_the_tenant_endpoint(
    tmp_path: Path, published_fixture: tuple[stack.Gateway, stack.Published]
) -> None:
    tools = installed(inspector=True)
    gateway, published = published_fixture
    url = gateway.url + "/mcp"
    listed = inspect(tools, tmp_path, url, published.token, "--method", "tools/list")
    names = {tool["name"] for tool in listed["tools"]}  # type: ignore[attr-defined]
    assert {"test_simple_text", "test_x_mcp_header", "test_input_required_result_elicitation"} <= names
    called = inspect(
        tools, tmp_path, url, published.token, "--method", "tools/call", "--tool-name", "test_x_mcp_header",
        "--tool-arg", "region=eu-west",
    )  # fmt: skip
    assert called["content"] == [{"type": "text", "text": "region=eu-west"}]
    assert not called.get("isError")
    read = inspect(tools, tmp_path, url, published.token, "--method", "resources/read", "--uri", "test://static-text")
    assert read["contents"][0]["text"] == "This is the content of the static text resource."  # type: ignore[index]


def test_the_mcp_inspector_cli_is_refused_without_a_valid_token(
    tmp_path: Path, published_fixture: tuple[stack.Gateway, stack.Published]
) -> None:
    tools = installed(inspector=True)
    gateway, _ = published_fixture
    command = [str(toolchain.Toolchain.inspector()), "--cli", gateway.url + "/mcp", "--transport", "http"]
    command += ["--header", "Authorization: Bearer not-a-token", "--method", "tools/list"]
    done = subprocess.run(
        command, env={**tools.env(), "HOME": str(tmp_path)}, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode != 0
    assert "test_simple_text" not in done.stdout
