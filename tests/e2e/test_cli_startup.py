"""``ledgergate --help``, ``wrapper`` and ``translate`` start without loading the runtime (no timing here)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ledgergate.api.cli import ALL_GROUPS, _parser

HEAVY = ["eventsourcing", "litestar", "rich", "mcp", "domain", "infrastructure", "psycopg", "httpx", "granian"]
PROBE = """
import json, sys
import ledgergate.api.cli
try:
    ledgergate.api.cli.main(sys.argv[1:])
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def loaded_by(*args: str) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=120, check=False
    )
    return set(json.loads(result.stderr.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "args", [("--help",), ("wrapper", "--help"), ("translate", "--help"), ("no-such-command",)], ids=" ".join
)
def test_help_and_the_bridges_parse_without_importing_the_runtime(args: tuple[str, ...]) -> None:
    assert {name.removeprefix("ledgergate.").split(".")[0] for name in loaded_by(*args)} & set(HEAVY) == set()


def test_a_group_s_module_is_loaded_only_when_that_group_runs() -> None:
    loaded = loaded_by("tenants", "--help")
    assert "ledgergate.api.cli_tenants" in loaded
    assert {
        "ledgergate.api.cli_events",
        "ledgergate.api.cli_audit",
        "ledgergate.api.cli_registry",
        "ledgergate.api.cli_contextforge",
    } & loaded == set()


def test_the_help_of_each_group_is_its_module_s_own() -> None:
    def helps(parser: object) -> dict[str, str | None]:
        action = next(a for a in parser._actions if a.dest == "command")  # type: ignore[attr-defined]
        return {choice.dest: choice.help for choice in action._choices_actions}

    full = helps(_parser())
    assert helps(_parser("wrapper")) == full
    assert set(ALL_GROUPS) <= set(full)
