"""Real ``ledgergate serve`` processes on loopback ports: first start, settings, PostgreSQL scale-out, crashes."""

from __future__ import annotations

import os
import pty
import secrets
import select
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from ledgergate.api.bootstrap import first_start
from ledgergate.api.runtime import build_runtime
from ledgergate.application.ports import ItemFilter
from tests.api.conftest import free_port, start_server
from tests.conftest import make_settings, postgres_conninfo

pytestmark = pytest.mark.slow

TOOL = {
    "name": "lookup",
    "input_schema": {"type": "object"},
    "integration": {"method": "GET", "url": "https://api.example.com/lookup"},
}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_first_start_saves_a_working_token_prints_only_its_path_to_a_log_and_keeps_keys_private(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    server = start_server(data)  # standard output is a file, as in a container's log
    token_file = data / "admin-token"
    token = token_file.read_text().strip()
    try:
        response = httpx.post(server.url + "/v1/tenants", json={"name": "acme"}, headers=auth(token))
        assert response.status_code == 201, response.text
    finally:
        first_output = server.stop()
    assert token not in first_output
    assert str(token_file) in first_output and "expires" in first_output
    for name in ("admin-token", "jwt-signing.key", "master.key", "signing-ed25519.key"):
        assert stat.S_IMODE((data / name).stat().st_mode) == 0o600
    second = start_server(data)
    second_output = second.stop()
    assert token not in second_output
    assert str(token_file) in second_output


def read_terminal(master: int, until: bytes, deadline: float) -> bytes:
    """What the child wrote to its terminal, up to ``until`` (or the end of its output)."""
    seen = b""
    while until not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if not ready:
            continue
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    return seen


def test_first_start_prints_the_token_when_standard_output_is_a_terminal(tmp_path: Path) -> None:
    data = tmp_path / "data"
    master, child_side = pty.openpty()
    env = {**os.environ, "LEDGERGATE_DATA_DIR": str(data), "LEDGERGATE_PORT": str(free_port())}
    process = subprocess.Popen(
        [sys.executable, "-m", "ledgergate.api.cli", "serve"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=child_side,
        stderr=child_side,
        cwd=tmp_path,
    )
    os.close(child_side)
    try:
        output = read_terminal(master, b"Serving on", time.monotonic() + 60)
    finally:
        process.send_signal(signal.SIGINT)
        read_terminal(master, b"\0never", time.monotonic() + 15)  # drain, so the child can exit
        process.wait(timeout=15)
        os.close(master)
    token = (data / "admin-token").read_text().strip()
    assert token.encode() in output, output


def test_an_invalid_setting_stops_the_start_with_one_clear_message(tmp_path: Path) -> None:
    env = {**os.environ, "LEDGERGATE_DATA_DIR": str(tmp_path), "LEDGERGATE_PORT": "99999"}
    result = subprocess.run(
        [sys.executable, "-m", "ledgergate.api.cli", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "LEDGERGATE_PORT='99999': must be between 1 and 65535" in result.stderr
    env["LEDGERGATE_PORT"] = "4444"
    env["LEDGERGATE_DATABASE_URL"] = "mysql://nope"
    result = subprocess.run(
        [sys.executable, "-m", "ledgergate.api.cli", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "LEDGERGATE_DATABASE_URL" in result.stderr


@pytest.mark.postgres
@pytest.mark.redis
def test_two_serve_processes_sharing_postgres_serve_each_others_writes(
    tmp_path: Path, postgres_url: str, redis_url: str
) -> None:
    data = tmp_path / "data"
    first = start_server(data, postgres_url, LEDGERGATE_REDIS_URL=redis_url)
    second = start_server(data, postgres_url, workers=2, LEDGERGATE_REDIS_URL=redis_url)
    token = (data / "admin-token").read_text().strip()
    try:
        positions = []
        for n in range(10):
            target = first if n % 2 == 0 else second
            response = httpx.post(
                target.url + "/v1/tenants/default/tools", json={**TOOL, "name": f"tool_{n}"}, headers=auth(token)
            )
            assert response.status_code == 201, response.text
            positions.append(response.json()["position"])
        for server in (first, second):
            listed = httpx.get(
                f"{server.url}/v1/tenants/default/tools?min_position={max(positions)}", headers=auth(token)
            ).json()["items"]
            assert sorted(t["name"] for t in listed) == [f"tool_{n}" for n in range(10)]
        clash = httpx.post(
            second.url + "/v1/tenants/default/tools", json={**TOOL, "name": "tool_0"}, headers=auth(token)
        )
        assert clash.status_code == 409
    finally:
        first.stop()
        second.stop()


WRITER = """
import sys
from ledgergate.api.bootstrap import first_start
from ledgergate.api.runtime import build_runtime
from ledgergate.domain.envelope import Envelope
from tests.conftest import make_settings
from pathlib import Path
runtime = build_runtime(make_settings(Path(sys.argv[1]), sys.argv[2]), follow=True)
print("ready", flush=True)
n = 0
while True:
    runtime.registry.create_entity(Envelope("default", "writer", "c", "c"), "tool",
        {"name": f"w{n:05d}", "input_schema": {"type": "object"},
         "integration": {"method": "GET", "url": "https://api.example.com/x"}})
    n += 1
"""


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_writer_killed_mid_stream_leaves_log_and_catalog_consistent(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    data = tmp_path / "data"
    url = f"sqlite:///{data / 'ledgergate.db'}" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    settings = make_settings(data, url)
    setup = build_runtime(settings, follow=False)
    first_start(setup)
    setup.close()
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(data), url],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
    check = build_runtime(settings, follow=False)
    writer_progress = threading.Event()  # never set: a bounded pause between polls of the log head
    try:
        deadline = time.monotonic() + 60
        while (check.registry.recorder.max_notification_id() or 0) < 200:
            assert writer.poll() is None and time.monotonic() < deadline, "the writer made no progress"
            writer_progress.wait(0.01)
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait(timeout=10)
        position = check.projector.catch_up()
        head = check.registry.recorder.max_notification_id()
        assert position == head
        live = check.queries.list("default", "tool", ItemFilter(), None, 500)[0]
        tools_in_log = sorted(
            str(n.originator_id)
            for n in check.registry.recorder.select_notifications(start=1, limit=100_000)
            if n.topic.endswith("Tool.Registered")
        )
        assert sorted(item["id"] for item in live) == tools_in_log
        names = [item["name"] for item in live]
        assert names == [f"w{n:05d}" for n in range(len(names))]
        check.view.reset(check.projector.name)
        check.projector.catch_up()
        assert check.queries.list("default", "tool", ItemFilter(), None, 500)[0] == live
    finally:
        if writer.poll() is None:
            writer.kill()
        check.close()


# -- serve refuses to start where running would break clients ----------------------------------------


def serve_expecting_refusal(data: Path, *args: str, **env: str) -> tuple[int | None, str]:
    """Run ``ledgergate serve``: its exit code and output, or None for the code when it was still running
    (serving, not refusing) after 60 s, when it is stopped."""
    data.mkdir(parents=True, exist_ok=True)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LEDGERGATE_")}
    environ |= {"LEDGERGATE_DATA_DIR": str(data), **env}
    log = data.parent / f"refused-{data.name}.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "ledgergate.api.cli", "serve", *args],
            env=environ,
            cwd=data.parent,
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        code: int | None = process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        code = None
        process.kill()
        process.wait()
    return code, log.read_text()


def assert_one_clear_refusal(code: int | None, output: str, *expected: str) -> None:
    assert code not in (None, 0), f"serve did not refuse to start (exit {code}):\n{output}"
    assert "Serving on" not in output and "Traceback" not in output, output
    for text in expected:
        assert text in output, output
    assert len([line for line in output.splitlines() if line.startswith("ledgergate:")]) == 1, output


def test_a_second_gateway_on_the_port_of_a_running_one_refuses_to_start(tmp_path: Path) -> None:
    first = start_server(tmp_path / "first")
    port = first.url.rsplit(":", 1)[1]
    try:
        code, output = serve_expecting_refusal(tmp_path / "second", LEDGERGATE_PORT=port)
        assert_one_clear_refusal(code, output, f"127.0.0.1:{port} is already in use")
        for _ in range(20):  # every request still reaches the first gateway: nobody else listens there
            assert httpx.get(first.url + "/health", timeout=10).status_code == 200
        assert not (tmp_path / "second" / "admin-token").exists()  # refused before its first start did anything
    finally:
        first.stop()


def test_a_port_held_by_another_program_is_one_clear_message_before_serving(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        code, output = serve_expecting_refusal(tmp_path / "data", LEDGERGATE_PORT=str(port))
    assert_one_clear_refusal(code, output, f"127.0.0.1:{port} is already in use", "LEDGERGATE_PORT")


@pytest.mark.parametrize("how", ["--workers", "LEDGERGATE_WORKERS"])
def test_more_than_one_worker_without_redis_refuses_to_start_and_says_what_to_set(tmp_path: Path, how: str) -> None:
    port = str(free_port())
    args, env = (["--workers", "2"], {}) if how == "--workers" else ([], {"LEDGERGATE_WORKERS": "3"})
    code, output = serve_expecting_refusal(tmp_path / "data", *args, LEDGERGATE_PORT=port, **env)
    assert_one_clear_refusal(code, output, "LEDGERGATE_REDIS_URL")
    assert code == 2


@pytest.mark.postgres
def test_a_postgres_schema_that_does_not_exist_is_named_with_how_to_create_it(
    tmp_path: Path, postgres_url: str
) -> None:
    missing = f"lg_missing_{secrets.token_hex(4)}"
    url = postgres_url.split("?")[0] + f"?schema={missing}"
    code, output = serve_expecting_refusal(
        tmp_path / "data", LEDGERGATE_PORT=str(free_port()), LEDGERGATE_DATABASE_URL=url
    )
    assert_one_clear_refusal(code, output, f"the schema '{missing}' does not exist", f'CREATE SCHEMA "{missing}"')
    assert "cannot reach" not in output
    with psycopg.connect(postgres_conninfo(), autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname = %s", (missing,)).fetchone() == (0,)
