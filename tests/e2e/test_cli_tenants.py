"""``ledgergate tenants ...`` and usage errors, as the installed command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ledgergate.api.bootstrap import first_start
from ledgergate.api.runtime import build_runtime
from tests.conftest import make_settings
from tests.e2e.test_cli_usability import ledgergate

pytestmark = pytest.mark.slow


@pytest.fixture
def data(tmp_path: Path) -> Path:
    runtime = build_runtime(make_settings(tmp_path), follow=False)
    try:
        first_start(runtime)
    finally:
        runtime.close()
    return tmp_path


def as_json(data: Path, *args: str, **env: str) -> Any:
    result = ledgergate(data, *args, "--json", **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_tenant_is_created_listed_renamed_disabled_enabled_and_deleted_as_the_cli_user(data: Path) -> None:
    bob = {"LEDGERGATE_CLI_USER": "bob"}
    created = as_json(data, "tenants", "create", "acme", "--display-name", "Acme", **bob)
    assert created["version"] == 1 and created["position"] > 0
    listed = as_json(data, "tenants", "list")
    assert sorted(t["name"] for t in listed) == ["acme", "default"]
    table = ledgergate(data, "tenants", "list", "--name-prefix", "ac").stdout.splitlines()
    assert table[0].split()[:4] == ["name", "display", "name", "enabled"] and table[2].split()[:3] == [
        "acme",
        "Acme",
        "yes",
    ]
    assert as_json(data, "tenants", "rename", "acme", "Acme Corp", "--description", "the lab", **bob)["version"] == 2
    shown = as_json(data, "tenants", "get", "acme")
    assert (shown["display_name"], shown["description"], shown["updated_by"]) == ("Acme Corp", "the lab", "cli:bob")
    assert as_json(data, "tenants", "disable", "acme", **bob)["version"] == 3
    assert [t["name"] for t in as_json(data, "tenants", "list", "--disabled")] == ["acme"]
    (data / "prompt.json").write_text(json.dumps({"name": "hello", "template": "Hello"}))
    refused = ledgergate(data, "prompts", "create", "--tenant", "acme", "--file", "prompt.json")
    assert (refused.returncode, refused.stderr) == (6, "ledgergate: tenant 'acme' is disabled\n")
    assert as_json(data, "tenants", "enable", "acme", "--if-version", "3", **bob)["version"] == 4
    deleted = as_json(data, "tenants", "delete", "acme", "--shred", **bob)
    assert deleted["version"] == 5 and deleted["shredded"] is True
    assert [t["name"] for t in as_json(data, "tenants", "list")] == ["default"]
    audit = as_json(data, "audit", "log", "--tenant", "acme", "--kind", "tenant")
    assert [(e["type"].split(".")[-1], e["actor"], e["causation_id"]) for e in audit] == [
        ("Created", "cli:bob", "cli:tenants create"),
        ("Updated", "cli:bob", "cli:tenants rename"),
        ("Disabled", "cli:bob", "cli:tenants disable"),
        ("Enabled", "cli:bob", "cli:tenants enable"),
        ("Deleted", "cli:bob", "cli:tenants delete"),
    ]
    assert all(e["actor_token_id"] is None for e in audit)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("tenants", "get", "Nope"), 3, "ledgergate: no tenant 'Nope'\n"),
        (("tenants", "disable", "nope"), 3, "ledgergate: no tenant 'nope'\n"),
        (("tenants", "delete", "nope", "--shred"), 3, "ledgergate: no tenant 'nope'\n"),
        (("tenants", "create", "default"), 5, "ledgergate: tenant 'default' already exists\n"),
        (("tenants", "enable", "default", "--if-version", "7"), 5, None),
        (("tenants", "create", "Not A Slug"), 4, None),
        (("tenants", "create", "cli"), 4, None),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, tuple) else str(v),
)
def test_tenant_errors_are_one_line_with_the_documented_exit_code(
    data: Path, args: tuple[str, ...], code: int, message: str | None
) -> None:
    result = ledgergate(data, *args)
    assert result.returncode == code, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("ledgergate: "), result.stderr
    if message is not None:
        assert result.stderr == message
    problem = json.loads(ledgergate(data, *args, "--json").stderr)
    assert problem["exit_code"] == code and problem["type"].startswith("urn:ledgergate:problem:")


@pytest.mark.parametrize(
    ("args", "see"),
    [
        (("tenants", "get"), "ledgergate tenants get"),
        (("--no-such-option",), "ledgergate"),
        (("tools", "list", "--limit", "many"), "ledgergate tools list"),
        (("tenants", "frobnicate"), "ledgergate tenants"),
        ((), "ledgergate"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, tuple) else v,
)
def test_a_usage_error_is_one_line_naming_the_help_to_read_and_exit_2(
    data: Path, args: tuple[str, ...], see: str
) -> None:
    result = ledgergate(data, *args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("ledgergate: error: ") and result.stderr.endswith(f"(see {see} --help)\n")
    assert "usage:" not in result.stderr


def test_help_stays_the_full_manual(data: Path) -> None:
    result = ledgergate(data, "tenants", "delete", "--help")
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout.startswith("usage: ledgergate tenants delete")
    assert "--shred" in result.stdout and "--if-version" in result.stdout and "--json" in result.stdout
