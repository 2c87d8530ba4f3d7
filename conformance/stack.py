"""The processes a conformance row needs: the fixture upstream, a gateway, the bridges; and the REST calls
that publish the fixture through the gateway as a new user would.

Every process runs on a free loopback port with its output in a log file of the work directory, and is
ended by its own pid when the row is done.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from conformance.proxy import free_port

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = "tests.support.conformance_upstream"
MODERN = "2026-07-28"


def _ledgergate() -> list[str]:
    script = Path(sys.executable).with_name("ledgergate")
    return [str(script)] if script.exists() else [sys.executable, "-m", "ledgergate.api.cli"]


@dataclass
class Process:
    popen: subprocess.Popen[bytes]
    log: Path
    name: str

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT)
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def check_alive(self) -> None:
        if self.popen.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.popen.returncode}:\n{self.tail()}")


def spawn(name: str, command: list[str], workdir: Path, env: dict[str, str] | None = None) -> Process:
    log = workdir / f"{name}.log"
    with log.open("wb") as out:  # a file, not a pipe: a full pipe stalls the child
        popen = subprocess.Popen(
            command, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=out, stderr=subprocess.STDOUT
        )
    return Process(popen, log, name)


def wait_until(ready: Any, process: Process, what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        process.check_alive()
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} was not ready within {timeout_s:.0f} s:\n{process.tail()}")
        time.sleep(0.1)


def _port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True


def start_fixture(transport: str, workdir: Path) -> tuple[Process, str]:
    """The fixture upstream over ``http`` (streamable HTTP) or ``sse``: the process and its MCP URL."""
    port = free_port()
    process = spawn(f"fixture-{transport}", [sys.executable, "-m", FIXTURE, transport, str(port)], workdir)
    wait_until(lambda: _port_open(port), process, f"the {transport} fixture")
    return process, f"http://127.0.0.1:{port}/{'sse' if transport == 'sse' else 'mcp'}"


def fixture_stdio_command() -> dict[str, Any]:
    return {"command": sys.executable, "args": ["-m", FIXTURE, "stdio"], "cwd": str(ROOT)}


@dataclass
class Gateway:
    process: Process
    url: str
    admin_token: str

    def api(self, method: str, path: str, body: dict[str, Any] | None = None, token: str | None = None) -> Any:
        response = httpx.request(
            method,
            f"{self.url}/v1{path}",
            json=body,
            headers={"Authorization": f"Bearer {token or self.admin_token}"},
            timeout=60,
        )
        if response.status_code >= 300:
            raise RuntimeError(f"{method} {path} answered {response.status_code}: {response.text}")
        return response.json()


def start_gateway(workdir: Path, name: str, workers: int = 1, env: dict[str, str] | None = None) -> Gateway:
    """``ledgergate serve`` with its own data directory; the bootstrap platform-admin token from its file."""
    port = free_port()
    data = workdir / f"{name}-data"
    environ = {
        "LEDGERGATE_DATA_DIR": str(data),
        "LEDGERGATE_HOST": "127.0.0.1",
        "LEDGERGATE_PORT": str(port),
        "LEDGERGATE_WORKERS": str(workers),
        "LEDGERGATE_DATABASE_URL": f"sqlite:///{data / 'ledgergate.db'}",
        **(env or {}),
    }
    process = spawn(name, [*_ledgergate(), "serve"], workdir, environ)
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return httpx.get(url + "/ready", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    wait_until(ready, process, f"the gateway {name}", timeout_s=120)
    return Gateway(process, url, (data / "admin-token").read_text().strip())


@dataclass(frozen=True)
class Published:
    tenant: str
    server_id: str
    token: str  # a client token of the tenant


def publish(gateway: Gateway, tenant: str, upstream: dict[str, Any]) -> Published:
    """A tenant holding the fixture as its one upstream (names unprefixed), a virtual server holding that
    upstream whole, and a client token; returns once both MCP endpoints list every tool registered."""
    gateway.api("POST", "/tenants", {"name": tenant})
    registered = gateway.api(
        "POST", f"/tenants/{tenant}/upstreams", {"name": "fixture", "prefix": {"enabled": False}, **upstream}
    )
    server = gateway.api(
        "POST", f"/tenants/{tenant}/servers", {"name": "conformance", "upstream_ids": [registered["id"]]}
    )
    token = gateway.api("POST", f"/tenants/{tenant}/tokens", {"name": "conformance-client", "role": "client"})["token"]
    published = Published(tenant, server["id"], token)
    tools = sum(1 for item in registered["report"]["added"] if item["kind"] == "tool")
    for path in ("/mcp", f"/servers/{published.server_id}/mcp"):
        wait_until(lambda p=path: _lists(tools, gateway.url + p, token), gateway.process, f"{tenant} {path}")
    return published


def _lists(tools: int, url: str, token: str, rounds: int = 4) -> bool:
    """A few stateless tools/list in a row (with several workers, each may land on another one)."""
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/list",
        "params": {
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": MODERN,
                "io.modelcontextprotocol/clientCapabilities": {},
            }
        },
    }
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": MODERN,
        "Mcp-Method": "tools/list",
    }
    for _ in range(rounds):
        try:
            answer = httpx.post(url, json=body, headers=headers, timeout=10).json()
        except (httpx.TransportError, ValueError):
            return False
        if len(answer.get("result", {}).get("tools", [])) < tools:
            return False
    return True


def start_bridges(gateway_mcp_url: str, token: str, workdir: Path) -> tuple[Process, str]:
    """``ledgergate translate --stdio "ledgergate wrapper --url ... --token ..."``: its MCP URL."""
    port = free_port()
    wrapper = " ".join([*_ledgergate(), "wrapper", "--url", gateway_mcp_url, "--token", token])
    process = spawn("bridges", [*_ledgergate(), "translate", "--stdio", wrapper, "--port", str(port)], workdir)
    wait_until(lambda: _port_open(port), process, "the translate bridge")
    return process, f"http://127.0.0.1:{port}/mcp"
