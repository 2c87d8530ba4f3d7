"""Key rotation from the CLI: the master key (a kill -9 midway recovered), a tenant's key with re-seal,
crypto-shredding of every generation, and a serving gateway whose calls with secrets never fail meanwhile."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from ledgergate.api.runtime import Runtime, build_runtime
from ledgergate.application.registry import PLATFORM_TENANT
from ledgergate.application.secrets import unseal
from ledgergate.domain.envelope import Envelope
from ledgergate.infrastructure.crypto.tenant_cipher import SecretUnavailableError
from tests.api.conftest import start_server
from tests.conftest import make_settings
from tests.support.echo import echo_service

SECRET = "k-rotated-under-it"


def tool(name: str, url: str = "https://api.example.com/x") -> dict[str, Any]:
    return {
        "name": name,
        "input_schema": {"type": "object", "properties": {"id": {"type": "string"}}},
        "integration": {"method": "GET", "url": url + "/customers/{id}", "headers": {"X-Api-Key": SECRET}},
    }


def cli(data_dir: Path, database_url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "LEDGERGATE_DATA_DIR": str(data_dir), "LEDGERGATE_DATABASE_URL": database_url, **env}
    return subprocess.run(
        [sys.executable, "-m", "ledgergate.api.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=environ,
    )


def secret_of(runtime: Runtime, tenant: str, tool_id: str) -> str:
    entity = runtime.registry.repository.get(UUID(tool_id))
    return str(unseal(entity.state()["integration"]["headers"]["X-Api-Key"], tenant, runtime.registry.cipher))


def key_id_of(runtime: Runtime, tool_id: str) -> str:
    entity = runtime.registry.repository.get(UUID(tool_id))
    return str(entity.state()["integration"]["headers"]["X-Api-Key"]["$secret"]["key_id"])


def custody_events(runtime: Runtime, name: str) -> list[Any]:
    return [event for _, event in runtime.audit.events() if type(event).__name__ == name]


def test_a_master_rotation_killed_midway_leaves_every_secret_readable_and_a_second_run_finishes(
    tmp_path: Path, database_url: str
) -> None:
    data = tmp_path / "data"
    runtime = build_runtime(make_settings(data, database_url), follow=False)
    tools = {}
    for n in range(12):
        runtime.registry.create_tenant(Envelope(PLATFORM_TENANT, "alice", "c", "c"), {"name": f"t{n}"})
        tools[f"t{n}"] = runtime.registry.create_entity(Envelope(f"t{n}", "alice", "c", "c"), "tool", tool("x")).id
    runtime.close()
    first_key = (data / "master.key").read_text()

    killed = cli(data, database_url, "keys", "rotate-master", LEDGERGATE_TEST_KILL_AFTER_REWRAPS="5")
    assert killed.returncode == -9, killed.stderr
    runtime = build_runtime(make_settings(data, database_url), follow=False)
    try:
        assert all(secret_of(runtime, tenant, tool_id) == SECRET for tenant, tool_id in tools.items())
        wraps = {runtime.registry.cipher.ring.wrapped_by(row[3]) for row in runtime.registry.cipher.wrapped_rows()}  # type: ignore[attr-defined]
        assert len(wraps) == 2  # some data keys under the new master key, the rest still under the first
    finally:
        runtime.close()

    finished = cli(data, database_url, "keys", "rotate-master")
    assert finished.returncode == 0 and "re-wrapped" in finished.stdout, finished.stderr
    retired = cli(data, database_url, "keys", "retire-master")
    assert retired.returncode == 0, retired.stdout + retired.stderr
    assert sorted(p.name for p in data.glob("master*")) == ["master.key"]
    assert (data / "master.key").read_text() != first_key
    runtime = build_runtime(make_settings(data, database_url), follow=False)
    try:
        assert all(secret_of(runtime, tenant, tool_id) == SECRET for tenant, tool_id in tools.items())
        rotated = custody_events(runtime, "MasterKeyRotated")
        assert (
            len(rotated) == 1
            and rotated[0].rewrapped == 12
            and len(rotated[0].old_key_ids) == 2
            and rotated[0].new_key_id.startswith("mk-")
        )
        stored = b"".join(r.state for r in runtime.archive.log.read(0, 10_000))  # type: ignore[attr-defined]
        assert (
            first_key.strip().encode() not in stored
            and (data / "master.key").read_text().strip().encode() not in stored
        )
    finally:
        runtime.close()


def test_a_tenant_key_rotates_old_secrets_stay_readable_reseal_renews_them_and_shredding_destroys_all(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    url = f"sqlite:///{tmp_path / 'ledgergate.db'}"
    runtime = build_runtime(make_settings(data, url), follow=False)
    admin, acme = Envelope(PLATFORM_TENANT, "alice", "c", "c"), Envelope("acme", "alice", "c", "c")
    runtime.registry.create_tenant(admin, {"name": "acme"})
    old_tool = runtime.registry.create_entity(acme, "tool", tool("old")).id
    first = key_id_of(runtime, old_tool)
    runtime.close()

    rotated = cli(data, url, "keys", "rotate-tenant", "acme")
    assert rotated.returncode == 0 and "stay readable" in rotated.stdout, rotated.stderr
    runtime = build_runtime(make_settings(data, url), follow=False)
    new_tool = runtime.registry.create_entity(acme, "tool", tool("new")).id
    second = key_id_of(runtime, new_tool)
    assert second != first and secret_of(runtime, "acme", old_tool) == secret_of(runtime, "acme", new_tool) == SECRET
    runtime.close()

    resealed = cli(data, url, "keys", "rotate-tenant", "acme", "--reseal")
    assert resealed.returncode == 0 and "re-sealed the secrets of 2 entities" in resealed.stdout, resealed.stderr
    runtime = build_runtime(make_settings(data, url), follow=False)
    try:
        third = key_id_of(runtime, old_tool)
        assert third not in (first, second) and key_id_of(runtime, new_tool) == third
        assert secret_of(runtime, "acme", old_tool) == SECRET
        events = [type(e).__name__ for e in custody_events(runtime, "DataKeyRotated")]
        assert events == ["DataKeyRotated", "DataKeyRotated"] and len(custody_events(runtime, "SecretsResealed")) == 1
        old_sealed = runtime.registry.repository.get(UUID(old_tool), version=1).state()["integration"]
        runtime.registry.change_tenant(admin, "acme", "delete", shred=True)
        for sealed in (old_sealed["headers"]["X-Api-Key"]["$secret"],):
            with pytest.raises(SecretUnavailableError):
                runtime.registry.cipher.decrypt("acme", sealed)
        with runtime.connector.read() as cur:
            shredded = {row[0] for row in cur.execute("SELECT key_id FROM shredded_keys WHERE tenant_id = 'acme'")}
            left = cur.execute("SELECT count(*) FROM tenant_retired_keys WHERE tenant_id = 'acme'")[0][0]
        assert shredded == {first, second, third} and left == 0
    finally:
        runtime.close()


@pytest.mark.slow
def test_a_serving_gateway_keeps_calling_with_secrets_while_master_and_tenant_keys_rotate(
    tmp_path: Path, redis_url: str
) -> None:
    """Two workers; the calls go on past the data-key cache lifetime, so every process reads the re-wrapped keys."""
    data = tmp_path / "data"
    url = f"sqlite:///{tmp_path / 'ledgergate.db'}"
    with echo_service() as echo:
        server = start_server(data, url, workers=2, LEDGERGATE_REDIS_URL=redis_url.rsplit("/", 1)[0] + "/11")
        try:
            admin = {"Authorization": f"Bearer {(data / 'admin-token').read_text().strip()}"}
            assert httpx.post(server.url + "/v1/tenants", json={"name": "acme"}, headers=admin).status_code == 201
            created = httpx.post(server.url + "/v1/tenants/acme/tools", json=tool("lookup", echo), headers=admin)
            assert created.status_code == 201, created.text
            issued = httpx.post(
                server.url + "/v1/tenants/acme/tokens", json={"name": "agent", "role": "client"}, headers=admin
            ).json()
            httpx.get(server.url + f"/v1/tenants/acme/tools?min_position={issued['position']}", headers=admin)
            outcomes: list[str] = []
            done = threading.Event()

            async def calls() -> None:
                http = httpx2.AsyncClient(
                    headers={"Authorization": f"Bearer {issued['token']}"}, timeout=httpx2.Timeout(60)
                )
                async with Client(streamable_http_client(server.url + "/mcp", http_client=http), mode="legacy") as s:
                    while not done.is_set():
                        result = await s.call_tool("lookup", {"id": "42"})
                        text = result.content[0].text  # type: ignore[union-attr]
                        outcomes.append("ok" if SECRET in text and not result.is_error else text)
                        await asyncio.sleep(0.05)

            def run_calls() -> None:
                try:
                    asyncio.run(calls())
                except BaseException as exc:  # the assertion below shows it
                    outcomes.append(repr(exc))

            caller = threading.Thread(target=run_calls)
            caller.start()
            time.sleep(2)
            steps = [
                cli(data, url, "keys", "rotate-master"),
                cli(data, url, "keys", "rotate-tenant", "acme", "--reseal"),
                cli(data, url, "keys", "retire-master"),
            ]
            time.sleep(35)  # past the 30 s every process trusts its cached data key
            steps.append(cli(data, url, "keys", "rotate-tenant", "acme"))
            time.sleep(3)
            done.set()
            caller.join(timeout=60)
        finally:
            log = server.stop()
    assert all(step.returncode == 0 for step in steps), [s.stdout + s.stderr for s in steps] + [log[-2000:]]
    assert len(outcomes) > 100 and set(outcomes) == {"ok"}, [o for o in outcomes if o != "ok"][:3]


def test_rotate_master_with_an_operator_given_master_key_is_one_line_exit_2_and_changes_nothing(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    url = f"sqlite:///{tmp_path / 'ledgergate.db'}"
    given = {"LEDGERGATE_MASTER_KEY": base64.b64encode(os.urandom(32)).decode()}
    runtime = build_runtime(make_settings(data, url, **given), follow=False)
    runtime.registry.create_tenant(Envelope(PLATFORM_TENANT, "alice", "c", "c"), {"name": "acme"})
    tool_id = runtime.registry.create_entity(Envelope("acme", "alice", "c", "c"), "tool", tool("x")).id
    runtime.close()
    files = {path.name: path.read_bytes() for path in data.iterdir() if path.is_file()}
    ledgergate = str(Path(sys.executable).with_name("ledgergate"))  # the console script pip installed
    environ = {**os.environ, "LEDGERGATE_DATA_DIR": str(data), "LEDGERGATE_DATABASE_URL": url, **given}
    environ.pop("LEDGERGATE_DEBUG", None)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [ledgergate, *args], capture_output=True, text=True, timeout=300, check=False, env=environ, cwd=tmp_path
        )

    refused = run("keys", "rotate-master")
    assert refused.returncode == 2 and refused.stdout == "", refused.stdout + refused.stderr
    assert refused.stderr.count("\n") == 1 and refused.stderr.startswith("ledgergate: the master key is given by"), (
        refused.stderr
    )
    assert "no retired key is" in refused.stderr and "LEDGERGATE_MASTER_KEYS_RETIRED" in refused.stderr
    problem = json.loads(run("keys", "rotate-master", "--json").stderr)
    assert problem["type"] == "urn:ledgergate:problem:master-key-given" and problem["exit_code"] == 2
    shown = json.loads(run("keys", "show", "--json").stdout)
    assert shown["master_key"]["given"] is True and shown["master_key"]["retired"] == []
    assert {path.name: path.read_bytes() for path in data.iterdir() if path.is_file()} == files
    runtime = build_runtime(make_settings(data, url, **given), follow=False)
    try:
        assert secret_of(runtime, "acme", tool_id) == SECRET and custody_events(runtime, "MasterKeyRotated") == []
    finally:
        runtime.close()
    rotated = run("keys", "rotate-tenant", "acme", "--json")  # what the message offers instead still works
    assert rotated.returncode == 0, rotated.stderr
    assert json.loads(rotated.stdout)["tenant"] == "acme"


def test_an_operator_given_master_key_rotates_by_giving_the_new_key_and_the_old_one_as_retired(tmp_path: Path) -> None:
    """Give the new key as LEDGERGATE_MASTER_KEY and the old one as retired: a gateway started so serves
    secrets sealed under either; rotate-master re-wraps every data key under the new key; then the old key
    is dropped and a gateway given only the new key still calls with every secret."""
    data = tmp_path / "data"
    url = f"sqlite:///{tmp_path / 'ledgergate.db'}"
    old, new = (base64.b64encode(os.urandom(32)).decode() for _ in range(2))
    with echo_service() as echo:
        runtime = build_runtime(make_settings(data, url, LEDGERGATE_MASTER_KEY=old), follow=False)
        for n in range(3):
            runtime.registry.create_tenant(Envelope(PLATFORM_TENANT, "alice", "c", "c"), {"name": f"t{n}"})
            runtime.registry.create_entity(Envelope(f"t{n}", "alice", "c", "c"), "tool", tool("lookup", echo))
        runtime.close()
        both = {"LEDGERGATE_MASTER_KEY": new, "LEDGERGATE_MASTER_KEYS_RETIRED": old}
        calls_during = _call_each_tenant(data, url, both, tenants=3)
        rotated = cli(data, url, "keys", "rotate-master", "--json", **both)
        assert rotated.returncode == 0, rotated.stderr
        report = json.loads(rotated.stdout)
        assert report["given"] is True and report["rewrapped"] == 3 and report["new_key_id"] != report["old_key_id"]
        again = cli(data, url, "keys", "rotate-master", "--json", **both)  # nothing left under the old key
        assert again.returncode == 0 and json.loads(again.stdout)["rewrapped"] == 0, again.stderr
        retired = cli(data, url, "keys", "retire-master", "--json", **both)
        assert retired.returncode == 0, retired.stderr
        retire_report = json.loads(retired.stdout)
        assert retire_report["unused"] == report["retired_keys"] and retire_report["kept"] == []
        calls_after = _call_each_tenant(data, url, {"LEDGERGATE_MASTER_KEY": new}, tenants=3)
    assert calls_during == calls_after == ["ok", "ok", "ok"]
    assert not list(data.glob("master*"))  # a given key ring writes no key file
    runtime = build_runtime(make_settings(data, url, LEDGERGATE_MASTER_KEY=new), follow=False)
    try:
        rotations = custody_events(runtime, "MasterKeyRotated")
        assert [(len(r.old_key_ids), r.rewrapped) for r in rotations] == [(1, 3), (1, 0)]
    finally:
        runtime.close()
    only_old = cli(data, url, "keys", "show", LEDGERGATE_MASTER_KEYS_RETIRED=old)
    assert only_old.returncode != 0 and "no master key is given" in only_old.stderr


def _call_each_tenant(data: Path, url: str, keys: dict[str, str], tenants: int) -> list[str]:
    """Serve with ``keys``; call each tenant's REST tool over MCP (the echo service answers with its secret header)."""
    server = start_server(data, url, **keys)
    try:
        admin = {"Authorization": f"Bearer {(data / 'admin-token').read_text().strip()}"}
        tokens = []
        for n in range(tenants):
            issued = httpx.post(
                server.url + f"/v1/tenants/t{n}/tokens", json={"name": "agent", "role": "client"}, headers=admin
            )
            assert issued.status_code == 201, issued.text
            tokens.append(issued.json()["token"])

        async def call(token: str) -> str:
            http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=httpx2.Timeout(60))
            async with Client(streamable_http_client(server.url + "/mcp", http_client=http), mode="legacy") as s:
                result = await s.call_tool("lookup", {"id": "42"})
            text = result.content[0].text  # type: ignore[union-attr]
            return "ok" if SECRET in text and not result.is_error else text

        return [asyncio.run(call(token)) for token in tokens]
    finally:
        server.stop()
