"""A real gateway on a PostgreSQL cluster of the test's own, which is stopped (``-m immediate``) and started again
while clients keep calling: MCP is served from memory throughout, writes are refused cleanly, nothing that was
acknowledged is lost, and everything comes back by itself."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.api.conftest import ServerProcess, start_server
from tests.conftest import IN_CI
from tests.support.echo import echo_service
from tests.support.private_postgres import PrivatePostgres, private_postgres, server_binaries
from tests.support.suite_counts import report_count

pytestmark = pytest.mark.slow

ACCEPT = "application/json, text/event-stream"
LEGACY = "2025-11-25"
MODERN = "2026-07-28"
CLIENT_INFO = {"name": "outage-test", "version": "1"}
TIMEOUT_S = 30  # per request: a request the gateway leaves hanging this long fails the test
PHASE_S = 90  # bound of each phase of the test (waiting for load, outage, recovery)


@pytest.fixture
def cluster() -> Iterator[PrivatePostgres]:
    binaries = server_binaries()
    if binaries is None:
        message = "no PostgreSQL server binaries (initdb, pg_ctl) are installed"
        if IN_CI:
            pytest.fail(message + "; CI=true requires them")
        pytest.skip(message)
    with private_postgres(binaries) as started:
        yield started


@dataclass
class Tally:
    """What one kind of client saw, by phase ("before", "outage", "after")."""

    outcomes: dict[str, Counter[str]] = field(default_factory=lambda: {p: Counter() for p in PHASES})
    problems: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, phase: str, outcome: str, problem: str | None = None) -> None:
        with self.lock:
            self.outcomes[phase][outcome] += 1
            if problem is not None and len(self.problems) < 20:
                self.problems.append(f"{phase}: {problem}")

    def count(self, phase: str, outcome: str) -> int:
        with self.lock:
            return self.outcomes[phase][outcome]


PHASES = ("before", "outage", "after")


@dataclass
class Load:
    server: ServerProcess
    token: str
    phase: str = "before"
    stopped: threading.Event = field(default_factory=threading.Event)
    mcp: Tally = field(default_factory=Tally)
    writes: Tally = field(default_factory=Tally)
    reads: Tally = field(default_factory=Tally)
    acknowledged: dict[str, int] = field(default_factory=dict)  # tool name -> position of its 201
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def mcp_post(http: httpx.Client, load: Load, body: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
    merged = {**load.headers, "Accept": ACCEPT, "Content-Type": "application/json", **headers}
    return http.post(load.server.url + "/mcp", content=json.dumps(body).encode(), headers=merged)


def modern(method: str, params: dict[str, Any], request_id: int) -> tuple[dict[str, Any], dict[str, str]]:
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": CLIENT_INFO,
    }
    headers = {"MCP-Protocol-Version": MODERN, "Mcp-Method": method}
    if method == "tools/call":
        headers["Mcp-Name"] = params["name"]
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": {**params, "_meta": meta}}, headers


def open_legacy_session(http: httpx.Client, load: Load) -> dict[str, str]:
    params = {"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": CLIENT_INFO}
    init = mcp_post(http, load, {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": params}, {})
    assert init.status_code == 200, init.text
    session = {"Mcp-Session-Id": init.headers["Mcp-Session-Id"], "MCP-Protocol-Version": LEGACY}
    done = mcp_post(http, load, {"jsonrpc": "2.0", "method": "notifications/initialized"}, session)
    assert done.status_code == 202, done.text
    return session


def mcp_outcome(response: httpx.Response, request_id: int, check: Callable[[dict[str, Any]], str | None]) -> str | None:
    """None when the answer is a good result, else what was wrong with it."""
    if response.status_code != 200:
        return f"HTTP {response.status_code}: {response.text[:200]}"
    body = response.json()
    if body.get("id") != request_id or "result" not in body:
        return f"not a result: {response.text[:200]}"
    return check(body["result"])


def listed_echo(result: dict[str, Any]) -> str | None:
    return None if "echo" in [t["name"] for t in result.get("tools", [])] else f"echo not listed: {result}"


def echoed(result: dict[str, Any]) -> str | None:
    if result.get("isError"):
        return f"isError: {result}"
    text = result["content"][0]["text"]
    return None if '"path": "/echo"' in text else f"not the echo service's answer: {text[:200]}"


def mcp_client(load: Load) -> None:
    """tools/list and tools/call, alternating the legacy (session) and the modern (stateless) era."""
    with httpx.Client(timeout=TIMEOUT_S) as http:
        session = open_legacy_session(http, load)
        n = 0
        while not load.stopped.is_set():
            n += 1
            phase = load.phase
            method, params, check = (
                ("tools/list", {}, listed_echo)
                if n % 2
                else ("tools/call", {"name": "echo", "arguments": {"n": n}}, echoed)
            )
            if n % 4 < 2:
                body, headers = {"jsonrpc": "2.0", "id": n, "method": method, "params": params}, session
            else:
                body, headers = modern(method, params, n)
            try:
                problem = mcp_outcome(mcp_post(http, load, body, headers), n, check)
            except httpx.HTTPError as exc:
                problem = f"{method}: {exc.__class__.__name__}: {exc}"
            load.mcp.add(phase, "ok" if problem is None else "failed", problem)


def refused_cleanly(response: httpx.Response) -> str | None:
    """None when a refusal is the clean 503 the gateway promises, else what was wrong with it."""
    if response.status_code != 503:
        return f"HTTP {response.status_code}: {response.text[:300]}"
    if not response.headers.get("retry-after", "").isdigit():
        return f"503 without a Retry-After: {dict(response.headers)}"
    if not response.headers.get("content-type", "").startswith("application/problem+json"):
        return f"503 that is not a problem document: {response.text[:200]}"
    if response.json().get("type") != "urn:ledgergate:problem:store-unavailable":
        return f"503 of another kind: {response.text[:200]}"
    return None


def writer(load: Load, name_prefix: str) -> None:
    with httpx.Client(timeout=TIMEOUT_S, headers=load.headers) as http:
        n = 0
        while not load.stopped.is_set():
            n += 1
            phase, name = load.phase, f"{name_prefix}_{n:05d}"
            body = {
                "name": name,
                "input_schema": {"type": "object"},
                "integration": {"method": "GET", "url": "https://api.example.com/x"},
            }
            try:
                response = http.post(load.server.url + "/v1/tenants/default/tools", json=body)
            except httpx.HTTPError as exc:
                load.writes.add(phase, "failed", f"{exc.__class__.__name__}: {exc}")
                continue
            if response.status_code == 201:
                with load.lock:
                    load.acknowledged[name] = response.json()["position"]
                load.writes.add(phase, "ok")
            else:
                problem = refused_cleanly(response)
                load.writes.add(phase, "refused" if problem is None else "failed", problem)
                if problem is None:
                    load.stopped.wait(0.05)  # a client honouring Retry-After would wait longer


def reader(load: Load) -> None:
    with httpx.Client(timeout=TIMEOUT_S, headers=load.headers) as http:
        while not load.stopped.is_set():
            phase = load.phase
            try:
                response = http.get(load.server.url + "/v1/tenants/default/tools?limit=5")
            except httpx.HTTPError as exc:
                load.reads.add(phase, "failed", f"{exc.__class__.__name__}: {exc}")
                continue
            if response.status_code == 200:
                load.reads.add(phase, "ok")
            else:
                problem = refused_cleanly(response)
                load.reads.add(phase, "refused" if problem is None else "failed", problem)
                if problem is None:
                    load.stopped.wait(0.05)


def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = PHASE_S) -> float:
    """Seconds it took for ``condition`` to hold; fails after ``timeout_s``."""
    start = time.monotonic()
    pause = threading.Event()
    while not condition():
        assert time.monotonic() - start < timeout_s, f"{what}: not within {timeout_s} s"
        pause.wait(0.02)
    return time.monotonic() - start


def all_tool_names(load: Load, min_position: int) -> set[str]:
    names: set[str] = set()
    cursor: str | None = None
    while True:
        query = f"?limit=500&min_position={min_position}" + (f"&cursor={cursor}" if cursor else "")
        response = httpx.get(load.server.url + "/v1/tenants/default/tools" + query, headers=load.headers, timeout=30)
        assert response.status_code == 200, response.text
        page = response.json()
        names |= {item["name"] for item in page["items"]}
        cursor = page.get("next_cursor")
        if not cursor:
            return names


def database_check(load: Load) -> str | None:
    try:
        return httpx.get(load.server.url + "/ready", timeout=5).json()["checks"]["database"]  # type: ignore[no-any-return]
    except (httpx.HTTPError, KeyError, ValueError):
        return None


def test_a_postgres_restart_under_load_loses_no_acknowledged_write_and_heals_by_itself(
    tmp_path: Path, cluster: PrivatePostgres, pytestconfig: pytest.Config
) -> None:
    with echo_service() as echo:
        server = start_server(tmp_path / "data", cluster.url, LEDGERGATE_SSRF_ALLOWED_HOSTS="127.0.0.1")
        load = Load(server=server, token=(tmp_path / "data" / "admin-token").read_text().strip())
        threads: list[threading.Thread] = []
        try:
            tool = {
                "name": "echo",
                "input_schema": {"type": "object"},
                "integration": {"method": "POST", "url": echo + "/echo"},
            }
            created = httpx.post(server.url + "/v1/tenants/default/tools", json=tool, headers=load.headers, timeout=30)
            assert created.status_code == 201, created.text
            all_tool_names(load, created.json()["position"])  # waits until the gateway has it
            threads = [
                threading.Thread(target=mcp_client, args=(load,), daemon=True),
                threading.Thread(target=mcp_client, args=(load,), daemon=True),
                threading.Thread(target=writer, args=(load, "w_a"), daemon=True),
                threading.Thread(target=writer, args=(load, "w_b"), daemon=True),
                threading.Thread(target=reader, args=(load,), daemon=True),
            ]
            for thread in threads:
                thread.start()
            wait_until(
                lambda: (
                    min(
                        load.mcp.count("before", "ok"),
                        load.writes.count("before", "ok"),
                        load.reads.count("before", "ok"),
                    )
                    >= 10
                ),
                "load before the outage",
            )

            load.phase = "outage"
            stopped_at = time.monotonic()
            cluster.stop("immediate")
            # Long enough for the pools to have given up reconnecting more than once (they try for 2 s at a time).
            wait_until(lambda: load.writes.count("outage", "refused") >= 20, "writes refused during the outage")
            wait_until(lambda: load.reads.count("outage", "refused") >= 10, "reads refused during the outage")
            wait_until(lambda: load.mcp.count("outage", "ok") >= 200, "MCP served during the outage")
            wait_until(lambda: database_check(load) == "unreachable", "/ready reporting the database")

            outage_s = time.monotonic() - stopped_at
            cluster.start()
            restarted = time.monotonic()
            load.phase = "after"
            wait_until(lambda: load.writes.count("after", "ok") >= 1, "a write accepted after the restart")
            recovery_s = time.monotonic() - restarted
            wait_until(
                lambda: load.writes.count("after", "ok") >= 10 and load.reads.count("after", "ok") >= 10, "load after"
            )
            wait_until(lambda: database_check(load) == "ok", "/ready reporting the database back")
        finally:
            load.stopped.set()
            for thread in threads:
                thread.join(timeout=TIMEOUT_S + 5)

        try:
            late = {**tool, "name": "after_recovery", "integration": {"method": "GET", "url": echo + "/late"}}
            created = httpx.post(server.url + "/v1/tenants/default/tools", json=late, headers=load.headers, timeout=30)
            assert created.status_code == 201, created.text
            with httpx.Client(timeout=TIMEOUT_S) as http:
                session = open_legacy_session(http, load)

                def listed() -> bool:
                    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
                    tools = mcp_post(http, load, body, session).json()["result"]["tools"]
                    return "after_recovery" in [t["name"] for t in tools]

                wait_until(listed, "the write after recovery in tools/list", timeout_s=30)
            present = all_tool_names(load, max(load.acknowledged.values()))
        finally:
            log = server.stop()

    lost = sorted(set(load.acknowledged) - present)
    summary = {
        "outage_s": round(outage_s, 2),
        "recovery_s": round(recovery_s, 2),
        "acknowledged_writes": len(load.acknowledged),
        "acknowledged_writes_lost": len(lost),
        **{
            f"{kind}_{phase}": dict(tally.outcomes[phase])
            for kind, tally in (("mcp", load.mcp), ("writes", load.writes), ("reads", load.reads))
            for phase in PHASES
        },
    }
    report_count(pytestconfig, "postgres outage", json.dumps(summary))
    for kind, tally in (("MCP", load.mcp), ("writes", load.writes), ("reads", load.reads)):
        assert sum(tally.outcomes[p]["failed"] for p in PHASES) == 0, f"{kind}: {tally.problems}"
    assert load.mcp.count("outage", "ok") >= 200
    assert not lost, f"acknowledged writes missing after recovery: {lost[:10]}"
    assert recovery_s < 30, summary
    # One line when the database went away and one when it came back, not one per refused request.
    outages = [line for line in log.splitlines() if "database is unreachable" in line]
    recoveries = [line for line in log.splitlines() if "database is reachable again" in line]
    assert (len(outages), len(recoveries)) == (1, 1), "\n".join(outages + recoveries)
    errors = [line for line in log.splitlines() if '"level":"ERROR"' in line or "Traceback" in line]
    assert not errors, log[log.find(errors[0]) :][:5000]


def terminate_client_connections(cluster: PrivatePostgres) -> int:
    """What an administrator's ``pg_terminate_backend`` or a proxy's idle cut does: every client connection
    but this one is closed by the server, which stays up. Returns how many were closed."""
    with psycopg.connect(f"host=127.0.0.1 port={cluster.port} user=postgres dbname=postgres", autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'"
        ).fetchone()
    return int(row[0]) if row else 0


def test_connections_the_database_drops_are_replaced_by_themselves_and_calls_in_flight_get_a_clean_503(
    tmp_path: Path, cluster: PrivatePostgres, pytestconfig: pytest.Config
) -> None:
    with echo_service() as echo:
        server = start_server(tmp_path / "data", cluster.url, LEDGERGATE_SSRF_ALLOWED_HOSTS="127.0.0.1")
        load = Load(server=server, token=(tmp_path / "data" / "admin-token").read_text().strip())
        tool = {
            "name": "echo",
            "input_schema": {"type": "object"},
            "integration": {"method": "POST", "url": echo + "/echo"},
        }
        threads: list[threading.Thread] = []
        try:
            created = httpx.post(server.url + "/v1/tenants/default/tools", json=tool, headers=load.headers, timeout=30)
            assert created.status_code == 201, created.text
            all_tool_names(load, created.json()["position"])
            threads = [
                threading.Thread(target=mcp_client, args=(load,), daemon=True),
                threading.Thread(target=writer, args=(load, "w"), daemon=True),
                threading.Thread(target=reader, args=(load,), daemon=True),
            ]
            for thread in threads:
                thread.start()
            wait_until(lambda: load.writes.count("before", "ok") >= 5, "load before the cuts")
            load.phase = "outage"
            closed = 0
            for _ in range(3):  # each cut while the gateway is busy; writes resume after each
                done = load.writes.count("outage", "ok")
                closed += terminate_client_connections(cluster)
                wait_until(lambda done=done: load.writes.count("outage", "ok") >= done + 5, "writes after a cut")
            load.phase = "after"
            wait_until(
                lambda: load.writes.count("after", "ok") >= 5 and load.reads.count("after", "ok") >= 5, "load after"
            )
        finally:
            load.stopped.set()
            for thread in threads:
                thread.join(timeout=TIMEOUT_S + 5)
        try:
            late = {**tool, "name": "after_the_cuts"}
            created = httpx.post(server.url + "/v1/tenants/default/tools", json=late, headers=load.headers, timeout=30)
            assert created.status_code == 201, created.text
            with httpx.Client(timeout=TIMEOUT_S) as http:
                session = open_legacy_session(http, load)

                def listed() -> bool:
                    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
                    tools = mcp_post(http, load, body, session).json()["result"]["tools"]
                    return "after_the_cuts" in [t["name"] for t in tools]

                wait_until(listed, "a write after the cuts in tools/list", timeout_s=30)
            present = all_tool_names(load, max(load.acknowledged.values()))
        finally:
            server.stop()

    summary = {
        "connections_closed": closed,
        **{
            f"{kind}_{p}": dict(t.outcomes[p])
            for kind, t in (("mcp", load.mcp), ("writes", load.writes), ("reads", load.reads))
            for p in PHASES
        },
    }
    summary["acknowledged_writes_lost"] = len(set(load.acknowledged) - present)
    report_count(pytestconfig, "postgres connections cut", json.dumps(summary))
    assert closed >= 3  # the store's pool, the read pool and the LISTEN connection at least once
    for kind, tally in (("MCP", load.mcp), ("writes", load.writes), ("reads", load.reads)):
        assert sum(tally.outcomes[p]["failed"] for p in PHASES) == 0, f"{kind}: {tally.problems}"
    assert not set(load.acknowledged) - present
