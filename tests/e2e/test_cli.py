"""The ``ledgergate`` command against a real store: migrate, token, projections."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest

pytestmark = pytest.mark.slow


def run(data: Path, *args: str, database_url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LEDGERGATE_DATA_DIR": str(data)}
    if database_url:
        env["LEDGERGATE_DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "-m", "ledgergate.api.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_migrate_applies_once_and_then_reports_nothing_to_do(tmp_path: Path) -> None:
    first = run(tmp_path, "migrate")
    assert first.returncode == 0, first.stderr
    assert "0001_catalog" in first.stdout
    second = run(tmp_path, "migrate")
    assert second.returncode == 0
    assert "nothing to apply" in second.stdout


@pytest.mark.postgres
def test_two_processes_migrating_one_postgres_schema_at_once_both_succeed(tmp_path: Path, postgres_url: str) -> None:
    env = {**os.environ, "LEDGERGATE_DATA_DIR": str(tmp_path), "LEDGERGATE_DATABASE_URL": postgres_url}
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "ledgergate.api.cli", "migrate"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=120) for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outputs
    assert sorted("0001_catalog" in out for out, _ in outputs) == [False, True]


def test_tokens_are_created_listed_and_revoked_from_the_command_line(tmp_path: Path) -> None:
    assert run(tmp_path, "migrate").returncode == 0
    from ledgergate.api.bootstrap import first_start
    from ledgergate.api.runtime import build_runtime
    from tests.conftest import make_settings

    runtime = build_runtime(make_settings(tmp_path), follow=False)
    first_start(runtime)
    runtime.close()
    created = run(tmp_path, "token", "create", "--tenant", "default", "--name", "ci-bot", "--role", "editor")
    assert created.returncode == 0, created.stderr
    token_id = created.stdout.split("token id: ")[1].split()[0]
    assert created.stdout.strip().splitlines()[-1].count(".") == 2  # the JWT, printed once
    listed = run(tmp_path, "token", "list", "--tenant", "default")
    assert token_id in listed.stdout and "editor" in listed.stdout
    revoked = run(tmp_path, "token", "revoke", token_id, "--tenant", "default")
    assert revoked.returncode == 0
    relisted = run(tmp_path, "token", "list", "--tenant", "default")
    line = next(line for line in relisted.stdout.splitlines() if line.startswith(token_id))
    assert " True " in line
    unknown = run(tmp_path, "token", "revoke", "00000000-0000-0000-0000-000000000000", "--tenant", "default")
    assert unknown.returncode == 3  # not found
    assert "no token" in unknown.stderr
    status = run(tmp_path, "projections", "status")
    assert status.returncode == 0
    assert "catalog_v1" in status.stdout


def test_a_token_from_the_command_line_expires_by_default_unless_it_is_a_service_token(tmp_path: Path) -> None:
    assert run(tmp_path, "migrate").returncode == 0
    assert run(tmp_path, "token", "rotate-admin").returncode == 3  # no first start yet: nothing to rotate
    from ledgergate.api.bootstrap import first_start
    from ledgergate.api.runtime import build_runtime
    from tests.conftest import make_settings

    runtime = build_runtime(make_settings(tmp_path), follow=False)
    first_start(runtime)
    runtime.close()
    user = run(tmp_path, "token", "create", "--name", "alice", "--role", "viewer")
    assert user.returncode == 0, user.stderr
    expires = datetime.fromisoformat(user.stdout.split("expires: ")[1].split()[0])
    assert timedelta(days=89) < expires - datetime.now(UTC) <= timedelta(days=90)
    service = run(tmp_path, "token", "create", "--name", "ci", "--role", "editor", "--service")
    assert "expires: never" in service.stdout
    too_long = run(tmp_path, "token", "create", "--name", "x", "--role", "viewer", "--expires-days", "400")
    assert too_long.returncode == 4 and "expires_in_s" in too_long.stderr  # invalid


def test_token_create_with_an_issue_key_run_again_issues_nothing_and_prints_no_secret(tmp_path: Path) -> None:
    assert run(tmp_path, "migrate").returncode == 0
    from ledgergate.api.bootstrap import first_start
    from ledgergate.api.runtime import build_runtime
    from tests.conftest import make_settings

    runtime = build_runtime(make_settings(tmp_path), follow=False)
    first_start(runtime)
    runtime.close()
    key = "deploy-bot-2026-12-02"
    first = run(tmp_path, "token", "create", "--name", "deploy", "--role", "editor", "--issue-key", key)
    assert first.returncode == 0, first.stderr
    token_id = first.stdout.split("token id: ")[1].split()[0]
    again = run(tmp_path, "token", "create", "--name", "deploy", "--role", "editor", "--issue-key", key)
    assert again.returncode == 5 and "already issued" in again.stderr and token_id in again.stderr, again.stderr
    assert first.stdout.strip().splitlines()[-1] not in again.stdout + again.stderr
    bad = run(tmp_path, "token", "create", "--name", "deploy", "--role", "editor", "--issue-key", "short")
    assert bad.returncode == 4 and "16 to 128" in bad.stderr
    listed = run(tmp_path, "token", "list", "--json")
    assert [t["name"] for t in json.loads(listed.stdout)].count("deploy") == 1


def test_rotate_admin_issues_a_new_platform_admin_token_and_revokes_the_old_one(tmp_path: Path) -> None:
    assert run(tmp_path, "migrate").returncode == 0
    from ledgergate.api.auth import authenticate
    from ledgergate.api.bootstrap import first_start
    from ledgergate.api.runtime import build_runtime
    from ledgergate.application.errors import UnauthorizedError
    from tests.conftest import make_settings

    runtime = build_runtime(make_settings(tmp_path), follow=False)
    old = first_start(runtime).token
    runtime.close()
    assert old is not None
    rotated = run(tmp_path, "token", "rotate-admin")
    assert rotated.returncode == 0, rotated.stderr
    new = (tmp_path / "admin-token").read_text().strip()
    assert new != old
    assert new not in rotated.stdout and str(tmp_path / "admin-token") in rotated.stdout  # not a terminal
    assert stat.S_IMODE((tmp_path / "admin-token").stat().st_mode) == 0o600
    runtime = build_runtime(make_settings(tmp_path), follow=False)
    try:
        runtime.projector.catch_up()
        principal = authenticate(runtime, f"Bearer {new}", None)
        assert principal.role == "platform-admin"
        old_id = jwt.decode(old, options={"verify_signature": False})["jti"]
        assert f"Revoked the previous token {old_id}" in rotated.stdout
        with pytest.raises(UnauthorizedError, match="revoked"):
            authenticate(runtime, f"Bearer {old}", None)
    finally:
        runtime.close()


def test_a_store_that_cannot_be_reached_gives_a_clear_error(tmp_path: Path) -> None:
    result = run(tmp_path, "migrate", database_url="postgresql://postgres@127.0.0.1:1/nowhere")
    assert result.returncode == 7  # unavailable
    assert "cannot reach the database" in result.stderr
    assert "Traceback" not in result.stderr
