"""``ledgergate tools|resources|prompts|servers|upstreams ...`` against a real store, as the installed command."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from ledgergate.api.bootstrap import first_start
from ledgergate.api.runtime import build_runtime
from tests.conftest import make_settings
from tests.e2e.test_cli_usability import ledgergate

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
TOOL = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    "integration": {"method": "GET", "url": "https://api.example.com/weather/{city}", "headers": {"X-Api-Key": "k-1"}},
}


@pytest.fixture
def data(tmp_path: Path) -> Path:
    runtime = build_runtime(make_settings(tmp_path), follow=False)
    try:
        first_start(runtime)
    finally:
        runtime.close()
    return tmp_path


def write(data: Path, name: str, body: Any) -> str:
    (data / name).write_text(json.dumps(body))
    return name


def as_json(data: Path, *args: str, **env: str) -> Any:
    result = ledgergate(data, *args, "--json", **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_tool_is_created_listed_changed_disabled_and_reverted_from_files(data: Path) -> None:
    alice = {"LEDGERGATE_CLI_USER": "alice"}
    created = as_json(data, "tools", "create", "--file", write(data, "tool.json", TOOL), **alice)
    assert created["version"] == 1 and created["position"] > 0
    listed = as_json(data, "tools", "list")
    assert [(t["id"], t["name"], t["enabled"]) for t in listed] == [(created["id"], "get_weather", True)]
    assert listed[0]["integration"]["headers"] == {"X-Api-Key": "********"}  # masked, as on REST
    table = ledgergate(data, "tools", "list").stdout
    assert table.splitlines()[2].split()[:2] == [created["id"], "get_weather"]

    patch = write(data, "patch.json", {"description": "oops"})
    assert as_json(data, "tools", "update", "get_weather", "--file", patch, **alice)["version"] == 2
    assert as_json(data, "tools", "disable", created["id"], **alice)["version"] == 3
    assert as_json(data, "tools", "list", "--enabled") == []
    history = as_json(data, "tools", "history", "get_weather")
    assert [(v["version"], v["event"], v["actor"]) for v in history["versions"]] == [
        (1, "Registered", "cli:alice"),
        (2, "Updated", "cli:alice"),
        (3, "Disabled", "cli:alice"),
    ]
    reverted = as_json(data, "tools", "revert", "get_weather", "--version", "1")
    assert reverted == {**reverted, "version": 4, "reverted_to": 1}
    tool = as_json(data, "tools", "get", "get_weather")
    assert tool["description"] == "Current weather for a city" and tool["enabled"] is True
    audit = as_json(data, "audit", "log", "--kind", "tool", "--actor", "cli:alice")
    assert len(audit) == 3 and all(e["actor_token_id"] is None for e in audit)

    stale = ledgergate(data, "tools", "disable", "get_weather", "--if-version", "2")
    assert stale.returncode == 5 and "expected version 2" in stale.stderr


def test_a_bad_file_gives_the_validation_error_the_api_gives_and_writes_nothing(data: Path) -> None:
    before = as_json(data, "audit", "log")
    unknown = ledgergate(data, "tools", "create", "--file", write(data, "x.json", {**TOOL, "colour": "red"}))
    assert unknown.returncode == 4
    assert unknown.stderr == "ledgergate: x.json: Object contains unknown field `colour`\n"
    schema = {**TOOL, "input_schema": {"type": "objekt"}}
    invalid = ledgergate(data, "tools", "create", "--file", write(data, "y.json", schema))
    assert invalid.returncode == 4
    assert invalid.stderr.startswith("ledgergate: input_schema: is not a valid JSON Schema")
    problem = json.loads(ledgergate(data, "tools", "create", "--file", "y.json", "--json").stderr)
    assert problem["type"] == "urn:ledgergate:problem:validation-error" and problem["field"] == "input_schema"
    broken = ledgergate(data, "prompts", "create", "--file", write(data, "z.json", "{"))  # a JSON string, not a body
    assert broken.returncode == 4 and "Expected `object`" in broken.stderr
    assert as_json(data, "audit", "log") == before

    assert ledgergate(data, "tools", "create", "--file", write(data, "t.json", TOOL)).returncode == 0
    taken = ledgergate(data, "tools", "create", "--file", "t.json")
    assert taken.returncode == 5 and "a tool named 'get_weather' already exists" in taken.stderr
    nobody = ledgergate(data, "tools", "get", "get_wether")
    assert nobody.returncode == 3 and nobody.stderr == "ledgergate: no tool named 'get_wether' in tenant 'default'\n"


def test_resources_prompts_and_servers_share_the_commands(data: Path) -> None:
    resource = {"uri": "docs://handbook", "name": "handbook", "mime_type": "text/markdown", "text": "# Handbook"}
    made = as_json(data, "resources", "create", "-f", write(data, "r.json", resource))
    assert as_json(data, "resources", "get", "docs://handbook")["id"] == made["id"]  # a resource by its URI
    prompt = {"name": "summarise", "template": "Summarise {{ text }}", "arguments": [{"name": "text"}]}
    as_json(data, "prompts", "create", "-f", write(data, "p.json", prompt))
    server = as_json(
        data, "servers", "create", "-f", write(data, "s.json", {"name": "desk", "resource_ids": [made["id"]]})
    )
    assert as_json(data, "servers", "get", "desk")["members"]["resource"] == [made["id"]]
    assert as_json(data, "servers", "delete", server["id"])["version"] == 2
    assert as_json(data, "servers", "list") == []
    assert [v["event"] for v in as_json(data, "servers", "history", server["id"])["versions"]][-1] == "Deleted"


def test_an_upstream_is_registered_with_discovery_refreshed_and_disabled(data: Path) -> None:
    body = {
        "name": "gamma",
        "transport": "stdio",
        "command": sys.executable,
        "cwd": str(ROOT),
        "args": ["-m", "tests.support.upstream_server", "stdio", "0", "gamma"],
    }
    registered = as_json(data, "upstreams", "create", "--file", write(data, "u.json", body))
    assert {"kind": "tool", "name": "echo"} in [
        {k: a[k] for k in ("kind", "name")} for a in registered["report"]["added"]
    ]
    assert "gamma__echo" in [t["name"] for t in as_json(data, "tools", "list")]
    assert as_json(data, "upstreams", "refresh", "gamma")["appended"] is False
    as_json(data, "upstreams", "disable", "gamma")
    assert as_json(data, "tools", "list", "--enabled") == []
    events = [v["event"] for v in as_json(data, "upstreams", "history", "gamma")["versions"]]
    assert events[0] == "Registered" and events[-1] == "Disabled"
    unreachable = {**body, "name": "nowhere", "command": str(data / "no-such-command")}
    refused = ledgergate(data, "upstreams", "create", "--file", write(data, "n.json", unreachable))
    assert refused.returncode == 7 and "could not be discovered" in refused.stderr
    assert [u["name"] for u in as_json(data, "upstreams", "list")] == ["gamma"]
