"""Moving a tenant to another instance with one export and one import, through real processes.

A source gateway (SQLite) with two tenants and a REST tool whose header is a secret; the CLI exports
tenant acme with its data key; the CLI imports it into an empty PostgreSQL store; a target gateway on
that store lists the same tools over MCP and its REST tool sends the decrypted secret header.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import httpx2
import msgspec
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.api.conftest import ServerProcess, start_server
from tests.support.echo import echo_service

pytestmark = [pytest.mark.slow, pytest.mark.postgres]
SECRET = "k-moved-with-its-tenant"


def admin_headers(server: ServerProcess) -> dict[str, str]:
    return {"Authorization": f"Bearer {(server.data_dir / 'admin-token').read_text().strip()}"}


def rest(server: ServerProcess, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    response = httpx.request(method, server.url + path, headers=admin_headers(server), timeout=30, **kwargs)
    assert response.status_code in (200, 201), response.text
    return response.json()  # type: ignore[no-any-return]


def acme_token(server: ServerProcess) -> str:
    issued = rest(server, "POST", "/v1/tenants/acme/tokens", json={"name": "agent", "role": "client"})
    rest(server, "GET", f"/v1/tenants/acme/tools?min_position={issued['position']}&limit=1")
    return str(issued["token"])


async def tools_and_call(server: ServerProcess, token: str) -> tuple[list[dict[str, Any]], str]:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=httpx2.Timeout(60))
    async with Client(streamable_http_client(server.url + "/mcp", http_client=http), mode="legacy") as session:
        listed = sorted((t.model_dump(exclude_none=True) for t in (await session.list_tools()).tools), key=str)
        called = await session.call_tool("lookup", {"id": "42"})
    return listed, called.content[0].text  # type: ignore[union-attr]


def cli(data_dir: Path, *args: str, database_url: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "LEDGERGATE_DATA_DIR": str(data_dir), **env}
    environ.pop("LEDGERGATE_EXPORT_PASSPHRASE", None)
    environ.update(env)
    if database_url:
        environ["LEDGERGATE_DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "-m", "ledgergate.api.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=environ,
    )


@pytest.fixture
def echo() -> Iterator[str]:
    with echo_service() as url:
        yield url


def test_a_tenant_moves_to_another_instance_with_one_export_and_one_import(
    tmp_path: Path, postgres_url: str, echo: str
) -> None:
    source = start_server(tmp_path / "source")
    try:
        for tenant in ("acme", "globex"):
            rest(source, "POST", "/v1/tenants", json={"name": tenant})
        tool = {
            "name": "lookup",
            "description": "Look a customer up",
            "input_schema": {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]},
            "integration": {"method": "GET", "url": echo + "/customers/{id}", "headers": {"X-Api-Key": SECRET}},
        }
        rest(source, "POST", "/v1/tenants/acme/tools", json=tool)
        rest(source, "POST", "/v1/tenants/acme/tools", json={**tool, "name": "second", "description": "Another"})
        rest(source, "POST", "/v1/tenants/globex/tools", json={**tool, "name": "globex_only"})
        source_tools, source_call = asyncio.run(tools_and_call(source, acme_token(source)))
    finally:
        source.stop()
    assert [t["name"] for t in source_tools] == ["lookup", "second"] and SECRET in source_call

    passphrase = tmp_path / "passphrase"
    passphrase.write_text("a long shared passphrase\n")
    wrong = tmp_path / "wrong"
    wrong.write_text("not the passphrase\n")
    export = tmp_path / "acme.jsonl"
    exported = cli(
        source.data_dir,
        *("events", "export", "--tenant", "acme", "--with-keys", "--passphrase-file", str(passphrase)),
        *("-o", str(export)),
    )
    assert exported.returncode == 0, exported.stderr
    assert SECRET not in export.read_text() and "globex" not in export.read_text()

    target_dir = tmp_path / "target"
    refused = cli(
        target_dir,
        "events",
        "import",
        str(export),
        database_url=postgres_url,
        **{"LEDGERGATE_EXPORT_PASSPHRASE": "not the passphrase"},
    )
    assert refused.returncode == 4 and "wrong passphrase" in refused.stderr  # invalid input
    refused_file = cli(
        target_dir, "events", "import", str(export), "--passphrase-file", str(wrong), database_url=postgres_url
    )
    assert refused_file.returncode == 4 and "nothing imported" in refused_file.stderr

    lines = export.read_bytes().splitlines(keepends=True)
    header = msgspec.json.decode(lines[0])
    header["keys"]["acme"]["ciphertext"] = header["keys"]["acme"]["ciphertext"][::-1]
    tampered = tmp_path / "tampered.jsonl"
    tampered.write_bytes(msgspec.json.encode(header) + b"\n" + b"".join(lines[1:]))
    broken = cli(
        target_dir, "events", "import", str(tampered), "--passphrase-file", str(passphrase), database_url=postgres_url
    )
    assert broken.returncode == 4 and "line 1" in broken.stderr and "header" in broken.stderr
    assert cli(target_dir, "events", "verify", str(tampered)).returncode == 1

    imported = cli(
        *(target_dir, "events", "import", str(export), "--passphrase-file", str(passphrase), "--json"),
        database_url=postgres_url,
    )
    assert imported.returncode == 0, imported.stderr
    report = json.loads(imported.stdout)
    assert report["mode"] == "restore" and list(report["tenants"]) == ["acme"]  # the refusals wrote nothing
    assert report["tenants"]["acme"]["imported"] == report["imported"] == len(lines) - 2
    assert "installed" in report["tenants"]["acme"]["secrets"]

    target = start_server(target_dir, postgres_url)
    try:
        target_tools, target_call = asyncio.run(tools_and_call(target, acme_token(target)))
    finally:
        target.stop()
    assert target_tools == source_tools
    assert json.loads(target_call)["api_key"] == SECRET
