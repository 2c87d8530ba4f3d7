"""The installed ``ledgergate`` command as a user meets it: help, --json, clean errors, times, progress bars."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledgergate.api.bootstrap import first_start
from ledgergate.api.cli import _parser
from ledgergate.api.runtime import build_runtime
from tests.conftest import make_settings

pytestmark = pytest.mark.slow

LEDGERGATE = str(Path(sys.executable).with_name("ledgergate"))  # the console script pip installed
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "contextforge_export.json"
#: commands that run something rather than answer: no report to print as JSON
NOT_REPORTS = {("serve",), ("wrapper",), ("translate",)}


def ledgergate(data: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "LEDGERGATE_DATA_DIR": str(data), **env}
    for name in ("TTY_INTERACTIVE", "TTY_COMPATIBLE", "FORCE_COLOR", "LEDGERGATE_DEBUG"):
        if name not in env:
            environ.pop(name, None)
    return subprocess.run(
        [LEDGERGATE, *args], env=environ, capture_output=True, text=True, timeout=180, check=False, cwd=data
    )


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An instance after its first start, with one export of it on disk."""
    data = tmp_path_factory.mktemp("cli")
    runtime = build_runtime(make_settings(data), follow=False)
    try:
        first_start(runtime)
    finally:
        runtime.close()
    exported = ledgergate(data, "events", "export", "-o", str(data / "all.jsonl"))
    assert exported.returncode == 0, exported.stderr
    yield data


def leaves(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    children = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not children:
        yield path, parser
    for action in children:
        for name, child in action.choices.items():
            yield from leaves(child, (*path, name))


def test_every_option_and_argument_of_every_command_has_help_text() -> None:
    commands = list(leaves(_parser()))
    assert len(commands) > 50  # the registry groups are there too
    missing = [
        (" ".join(path), action.dest)
        for path, parser in commands
        for action in parser._actions
        if not action.help and action.dest != "help"
    ]
    assert missing == []
    undescribed = [
        f"{' '.join(path[:-1])} {choice.dest}"
        for path, parser in [((), _parser()), *commands]
        for action in parser._actions
        if isinstance(action, argparse._SubParsersAction)
        for choice in action._choices_actions
        if not choice.help
    ]
    assert undescribed == []


def test_every_command_that_answers_takes_json_and_debug() -> None:
    for path, parser in leaves(_parser()):
        options = {option for action in parser._actions for option in action.option_strings}
        assert "--debug" in options, path
        if path not in NOT_REPORTS:
            assert "--json" in options, path


def test_the_entry_point_prints_its_help_with_the_exit_codes(data: Path) -> None:
    result = ledgergate(data, "--help")
    assert result.returncode == 0, result.stderr
    for command in ("serve", "token", "events", "audit", "tools", "upstreams", "projections"):
        assert f"    {command}" in result.stdout
    assert "3 not found" in result.stdout
    verify = ledgergate(data, "events", "verify", "--help")
    assert "--json" in verify.stdout and "the export to check" in verify.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("token", "list"),
        ("projections", "status"),
        ("audit", "log"),
        ("audit", "catalog", "--at", "now"),
        ("audit", "diff", "--from", "1", "--to", "now"),
        ("events", "verify", "all.jsonl"),
        ("events", "import", "all.jsonl", "--dry-run"),
        ("events", "export", "-o", "again.jsonl"),
        ("import", "contextforge", str(FIXTURE), "--dry-run"),
        ("migrate",),
        ("tools", "list"),
        ("resources", "list"),
        ("prompts", "list"),
        ("servers", "list"),
        ("upstreams", "list"),
        ("tenants", "list"),
        ("tenants", "get", "default"),
        ("keys", "show"),
        ("keys", "retire-master"),
        ("log", "verify"),
        ("log", "verify", "--export", "all.jsonl"),
        ("log", "checkpoint"),
    ],
    ids=" ".join,
)
def test_every_listing_and_report_prints_one_json_document_with_json(data: Path, args: tuple[str, ...]) -> None:
    result = ledgergate(data, *args, "--json")
    assert result.returncode == 0, result.stderr
    assert isinstance(json.loads(result.stdout), list | dict), result.stdout


def test_token_list_and_projections_status_are_tables_for_people(data: Path) -> None:
    tokens = ledgergate(data, "token", "list")
    header = tokens.stdout.splitlines()[0].split()
    assert header == ["id", "name", "subject", "role", "revoked", "expires_at"]
    assert "platform-admin" in tokens.stdout
    status = ledgergate(data, "projections", "status").stdout.splitlines()
    assert status[0].split() == ["projection", "tracking", "position", "log", "head", "lag"]
    assert [line.split()[0] for line in status[2:]] == ["catalog", "audit"]


@pytest.mark.parametrize(
    "args",
    [
        ("token", "list", "--tenant", "Nope"),
        ("token", "create", "--tenant", "Nope", "--name", "x", "--role", "viewer"),
        ("tools", "list", "--tenant", "Nope"),
        ("upstreams", "get", "x", "--tenant", "Nope"),
        ("audit", "log", "--tenant", "Nope"),
        ("audit", "catalog", "--tenant", "Nope", "--at", "now"),
        ("events", "export", "--tenant", "Nope"),
        ("import", "contextforge", str(FIXTURE), "--tenant", "Nope"),
        ("keys", "rotate-tenant", "Nope"),
    ],
    ids=" ".join,
)
def test_an_unknown_tenant_is_one_line_naming_it_as_typed_and_exit_3(data: Path, args: tuple[str, ...]) -> None:
    result = ledgergate(data, *args)
    assert result.returncode == 3, result.stderr
    assert result.stderr.count("\n") == 1 and "no tenant 'Nope'" in result.stderr, result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    "args",
    [
        ("events", "verify", "missing.jsonl"),
        ("events", "import", "missing.jsonl"),
        ("import", "contextforge", "missing.jsonl"),
        ("tools", "create", "--file", "missing.jsonl"),
        ("log", "verify", "--export", "missing.jsonl"),
    ],
    ids=" ".join,
)
def test_a_missing_file_is_one_line_without_a_traceback_unless_debug(data: Path, args: tuple[str, ...]) -> None:
    result = ledgergate(data, *args)
    assert result.returncode == 3
    assert result.stderr == "ledgergate: cannot read missing.jsonl: No such file or directory\n"
    debug = ledgergate(data, *args, "--debug")
    assert debug.returncode == 3
    assert "Traceback (most recent call last)" in debug.stderr
    assert debug.stderr.endswith("ledgergate: cannot read missing.jsonl: No such file or directory\n")


def test_debug_before_the_command_and_the_environment_variable_show_the_traceback_too(data: Path) -> None:
    before = ledgergate(data, "--debug", "events", "verify", "missing.jsonl")
    assert before.returncode == 3 and "Traceback" in before.stderr
    variable = ledgergate(data, "events", "verify", "missing.jsonl", LEDGERGATE_DEBUG="1")
    assert variable.returncode == 3 and "Traceback" in variable.stderr


def test_an_error_with_json_is_a_problem_details_object_on_standard_error(data: Path) -> None:
    result = ledgergate(data, "tools", "get", "nothing-like-it", "--json")
    assert result.returncode == 3
    problem = json.loads(result.stderr)
    assert problem == {
        "type": "urn:ledgergate:problem:not-found",
        "detail": "no tool named 'nothing-like-it' in tenant 'default'",
        "exit_code": 3,
    }


@pytest.mark.parametrize("since", ["yesterday", "today", "2h", "90 minutes ago", "2026-11-24", "2026-11-24T09:00Z"])
def test_audit_log_takes_times_as_people_write_them(data: Path, since: str) -> None:
    result = ledgergate(data, "audit", "log", "--since", since, "--json")
    assert result.returncode == 0, result.stderr
    types = [entry["type"] for entry in json.loads(result.stdout)]
    assert "Tenant.Created" in types  # the first start happened moments ago, after each of these


def test_a_time_that_cannot_be_read_is_a_usage_error_saying_what_is_accepted(data: Path) -> None:
    result = ledgergate(data, "audit", "log", "--since", "the other day")
    assert result.returncode == 2
    assert "'the other day' is not a time" in result.stderr and "yesterday" in result.stderr
    assert "invalid setting" not in result.stderr
    future = ledgergate(data, "audit", "log", "--since", "now", "--json")
    assert json.loads(future.stdout) == []


def test_long_work_shows_a_progress_bar_with_counts_and_rates_on_a_terminal_only(data: Path) -> None:
    terminal = {"TTY_INTERACTIVE": "1", "TTY_COMPATIBLE": "1"}
    verify = ledgergate(data, "events", "verify", "all.jsonl", **terminal)
    assert verify.returncode == 0, verify.stderr
    assert "verifying" in verify.stderr and "100%" in verify.stderr and "/s" in verify.stderr
    export = ledgergate(data, "events", "export", "-o", "bar.jsonl", **terminal)
    assert "exporting" in export.stderr and "lines" in export.stderr and "/s" in export.stderr
    rebuild = ledgergate(data, "projections", "rebuild", "catalog", **terminal)
    assert rebuild.returncode == 0, rebuild.stderr
    assert "rebuilding catalog" in rebuild.stderr and "events" in rebuild.stderr
    assert "rebuilt catalog" in rebuild.stdout
    checked = ledgergate(data, "import", "contextforge", str(FIXTURE), "--dry-run", **terminal)
    assert checked.returncode == 0, checked.stderr
    assert "checking" in checked.stderr and "8/8" in checked.stderr and "items" in checked.stderr
    plain = ledgergate(data, "events", "verify", "all.jsonl")
    assert plain.stderr == ""  # not a terminal: nothing but the report, on standard output
    assert plain.stdout.startswith("all.jsonl: intact, 2 events")


def test_events_import_prints_a_report_table_and_export_a_sentence(data: Path) -> None:
    imported = ledgergate(data, "events", "import", "all.jsonl", "--dry-run")
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.startswith("merge: would import 0 events, skipped 2 already present")
    assert "default" in imported.stdout
    exported = ledgergate(data, "events", "export", "-o", "sentence.jsonl")
    assert exported.stdout == "exported 2 events to sentence.jsonl\n"
