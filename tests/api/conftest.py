"""API fixtures: the app in process (Litestar's test client) and real ``ledgergate serve`` processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient

from ledgergate.api.app import create_app
from ledgergate.api.bootstrap import first_start
from ledgergate.api.runtime import build_runtime
from ledgergate.infrastructure.settings import Settings


@dataclass
class Api:
    """A client bound to the gateway, with the bootstrap platform-admin token."""

    http: Any
    token: str
    base: str = ""

    def headers(self, token: str | None = None, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token}", **extra}

    def call(
        self, method: str, path: str, token: str | None = None, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        return self.http.request(method, self.base + path, headers={**self.headers(token), **(headers or {})}, **kwargs)


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    """The app in process on SQLite and on PostgreSQL, after its first start."""
    runtime = build_runtime(settings)
    started = first_start(runtime)
    assert started.token is not None
    app = create_app(settings, runtime=runtime)
    try:
        with TestClient(app) as client:
            yield Api(http=client, token=started.token)
    finally:
        runtime.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerProcess:
    process: subprocess.Popen[str]
    url: str
    data_dir: Path
    log: Path

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.log.read_text() if self.log.exists() else ""


def start_server(data_dir: Path, database_url: str | None = None, workers: int = 1, **env: str) -> ServerProcess:
    """Start ``ledgergate serve`` on a free loopback port and wait until it is ready."""
    port = free_port()
    environ = {
        **os.environ,
        "LEDGERGATE_DATA_DIR": str(data_dir),
        "LEDGERGATE_PORT": str(port),
        "LEDGERGATE_WORKERS": str(workers),
        **env,
    }
    if database_url:
        environ["LEDGERGATE_DATABASE_URL"] = database_url
    data_dir.mkdir(parents=True, exist_ok=True)
    output = (data_dir.parent / f"serve-{port}.log").open("w")  # a file, not a pipe: a full pipe stalls the server
    process = subprocess.Popen(
        [sys.executable, "-m", "ledgergate.api.cli", "serve"],
        env=environ,
        cwd=data_dir.parent,
        stdout=output,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output.close()  # the child has its own handle
    server = ServerProcess(
        process=process, url=f"http://127.0.0.1:{port}", data_dir=data_dir, log=data_dir.parent / f"serve-{port}.log"
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}: {server.stop()}")
        try:
            if httpx.get(server.url + "/ready", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    output = server.stop()
    raise AssertionError(f"server did not become ready in time: {output}")
