"""Soak: minutes of mixed load against a 2-worker gateway on PostgreSQL with Redis; errors, memory, latency.

A real ``ledgergate serve`` (2 workers, a fresh PostgreSQL schema dropped at the end, Redis sessions in
their own database number, default ``/14``), the echo service its REST tools call (``bench/loadgen.py
echo``), each in a process of its own; the load runs as asyncio tasks of this process. Each task keeps
its own pace (``--rate`` requests/s over ``--tasks`` tasks) and draws the next operation from a fixed mix:

- MCP in both eras: ``tools/list`` (tenant endpoint, and a virtual server's), ``tools/call`` of a REST
  tool that GETs the echo, ``prompts/get``, ``resources/read``; stateless 2026-07-28 requests and legacy
  2025-11-25 sessions (one per task and endpoint, shared by the workers through Redis);
- REST reads (a page of tools, one tool) and writes (create and delete tools of a bounded churn pool,
  patch a tool's description), with an editor token.

Every answer is checked (status, JSON-RPC result, ``isError`` false); anything else is an error, by kind.
Every ``--sample-s`` seconds the RSS (``VmRSS``) of each worker (the serve process's descendants) is
read; the report gives each worker's RSS at start and end and its slope in MB/min (least squares, over
the run after the warm-up and over its second half; "flat" is a second-half slope within
``FLAT_MB_PER_MIN``), the p50/p99 of each minute per kind of operation, and the errors.

    .venv/bin/python bench/soak.py                 # 10 minutes
    .venv/bin/python bench/soak.py --minutes 2     # a short run (make bench-soak MINUTES=2)

Every sample goes to ``bench/results/soak-<timestamp>.json`` (git-ignored).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import random
import secrets
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import httpx
import psycopg
import redis

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS_DIR = BENCH / "results"
LOADGEN = BENCH / "loadgen.py"
# Run as a script, bench/ leads sys.path; the project root goes there instead (for ``tests.conftest``).
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() not in (BENCH, ROOT)]
MODERN = "2026-07-28"
LEGACY = "2025-11-25"
ACCEPT = "application/json, text/event-stream"
TENANT = "soak"
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
REQUEST_TIMEOUT_S = 10.0
FLAT_MB_PER_MIN = 1.0  # a second-half RSS slope within this counts as flat
CHURN_POOL = 50  # tools the writers create and delete, at most this many at once
KINDS = ("list", "call", "prompt", "resource", "rest-read", "rest-write")
#: (operation, kind, weight): what a load task does next, drawn by weight
MIX = (
    ("tools/list modern", "list", 14),
    ("tools/list legacy", "list", 6),
    ("server tools/list modern", "list", 6),
    ("tools/call modern", "call", 12),
    ("tools/call legacy", "call", 6),
    ("prompts/get modern", "prompt", 6),
    ("prompts/get legacy", "prompt", 3),
    ("resources/read modern", "resource", 6),
    ("resources/read legacy", "resource", 3),
    ("rest list tools", "rest-read", 10),
    ("rest get tool", "rest-read", 8),
    ("rest create-or-delete tool", "rest-write", 5),
    ("rest patch tool", "rest-write", 5),
)
KIND_OF = {op: kind for op, kind, _ in MIX}
CLK_TCK = os.sysconf("SC_CLK_TCK")


def say(message: str) -> None:
    print(message, flush=True)


@dataclass(frozen=True)
class Config:
    minutes: float
    rate: float
    tasks: int
    workers: int
    warmup_s: float
    sample_s: float
    tools: int
    postgres_url: str
    redis_url: str
    seed: int


def parse_args(argv: list[str] | None = None) -> Config:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="measured minutes after the warm-up (10)")
    parser.add_argument("--rate", type=float, default=200.0, help="requests/s the tasks aim at together (200)")
    parser.add_argument("--tasks", type=int, default=16, help="load tasks, each one request at a time (16)")
    parser.add_argument("--workers", type=int, default=2, help="gateway workers (2)")
    parser.add_argument("--warmup", type=float, default=15.0, help="seconds of load before the measured part (15)")
    parser.add_argument("--sample-s", type=float, default=5.0, help="seconds between RSS samples (5)")
    parser.add_argument("--tools", type=int, default=100, help="tools in the tenant before the run (100)")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("LEDGERGATE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
        help="a fresh schema is made under this database and dropped at the end",
    )
    parser.add_argument(
        "--redis-url", default="redis://127.0.0.1:6379/14", help="sessions; a database number of its own (/14)"
    )
    parser.add_argument("--seed", type=int, default=11, help="of the operation mix")
    args = parser.parse_args(argv)
    for name in ("minutes", "rate", "tasks", "workers", "sample_s", "tools"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    return Config(
        minutes=args.minutes,
        rate=args.rate,
        tasks=args.tasks,
        workers=args.workers,
        warmup_s=max(0.0, args.warmup),
        sample_s=args.sample_s,
        tools=args.tools,
        postgres_url=args.postgres_url,
        redis_url=args.redis_url,
        seed=args.seed,
    )


# -- processes -------------------------------------------------------------------------------------


@dataclass
class Managed:
    """A child process in a session of its own (its workers too), stopped by its id."""

    name: str
    process: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                say(f"  {self.name} (pid {self.pid}) did not stop in {STOP_TIMEOUT_S:g} s: killing its group")
                os.killpg(self.pid, signal.SIGKILL)
                self.process.wait()
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)  # workers its main process left behind
        if self.process.stdout is not None:
            self.process.stdout.close()


def spawn(name: str, args: list[str], stack: ExitStack, **kwargs: Any) -> Managed:
    managed = Managed(name, subprocess.Popen(args, start_new_session=True, **kwargs))
    stack.callback(managed.stop)
    return managed


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_echo(stack: ExitStack) -> int:
    echo = spawn("echo", [sys.executable, str(LOADGEN), "echo"], stack, stdout=subprocess.PIPE)
    assert echo.process.stdout is not None
    ready, _, _ = select.select([echo.process.stdout], [], [], READY_TIMEOUT_S)
    line = echo.process.stdout.readline().decode() if ready else ""
    if not line.startswith("port "):
        raise RuntimeError(f"the echo service did not start: {line!r}")
    return int(line.split()[1])


@contextmanager
def postgres_schema(url: str) -> Iterator[str]:
    """A database URL on a new schema, dropped afterwards."""
    from tests.conftest import postgres_conninfo

    name = f"lg_soak_{secrets.token_hex(4)}"
    with psycopg.connect(postgres_conninfo(url.split("?")[0]), autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
        try:
            yield f"{url.split('?')[0]}?schema={name}"
        finally:
            conn.execute(f'DROP SCHEMA "{name}" CASCADE')


def start_gateway(stack: ExitStack, data_dir: Path, cfg: Config, database_url: str) -> tuple[Managed, str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGERGATE_")}
    env |= {
        "LEDGERGATE_DATA_DIR": str(data_dir),
        "LEDGERGATE_HOST": "127.0.0.1",
        "LEDGERGATE_PORT": str(port),
        "LEDGERGATE_WORKERS": str(cfg.workers),
        "LEDGERGATE_DATABASE_URL": database_url,
        "LEDGERGATE_REDIS_URL": cfg.redis_url,
        "LEDGERGATE_LOG_LEVEL": "WARNING",
    }
    log: IO[bytes] = stack.enter_context((data_dir.parent / "gateway.log").open("wb"))
    managed = spawn(
        "gateway",
        [sys.executable, "-m", "ledgergate.api.cli", "serve"],
        stack,
        env=env,
        cwd=data_dir.parent,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if managed.process.poll() is not None:
            raise RuntimeError(
                f"the gateway exited with {managed.process.returncode}: see {data_dir.parent / 'gateway.log'}"
            )
        try:
            if httpx.get(url + "/ready", timeout=1).status_code == 200:
                return managed, url
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the gateway was not ready in {READY_TIMEOUT_S:g} s")


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (granian's workers are its children)."""
    children: dict[int, list[int]] = {}
    for stat_path in Path("/proc").glob("[0-9]*/stat"):
        try:
            stat = stat_path.read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(stat_path.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return sorted(found)


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def cpu_s(pid: int) -> float | None:
    """User and system CPU seconds of a process so far."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # from the 3rd field on: state, ppid, ...
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def redis_reachable(url: str) -> bool:
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (redis.RedisError, OSError):
        return False


# -- the tenant ------------------------------------------------------------------------------------


@dataclass
class Catalog:
    url: str
    client_token: str
    editor_token: str
    server_id: str
    tool_ids: list[str]
    tool_names: list[str]
    prompt_names: list[str]
    resource_uris: list[str]
    churn: deque[str] = field(default_factory=deque)


def tool_body(name: str, echo_port: int) -> dict[str, Any]:
    return {
        "name": name,
        "description": f"Soak tool {name}: looks q up at the echo service.",
        "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}},
        "integration": {"method": "GET", "url": f"http://127.0.0.1:{echo_port}/echo"},  # q goes in the query
    }


def _ok(response: httpx.Response, *statuses: int) -> dict[str, Any]:
    if response.status_code not in statuses:
        raise RuntimeError(f"{response.request.method} {response.request.url}: {response.status_code} {response.text}")
    return response.json()  # type: ignore[no-any-return]


def build_catalog(url: str, admin_token: str, cfg: Config, echo_port: int) -> Catalog:
    """A tenant with tools, prompts, resources, a virtual server, and a client and an editor token."""
    base = f"/v1/tenants/{TENANT}"
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin_token}"}, timeout=30) as http:
        _ok(http.post("/v1/tenants", json={"name": TENANT}), 201)
        tools = [
            _ok(http.post(f"{base}/tools", json=tool_body(f"tool_{i:04d}", echo_port)), 201) for i in range(cfg.tools)
        ]
        prompts, resources = [], []
        for i in range(10):
            body = {
                "name": f"prompt_{i}",
                "template": "Summarise {{ text }}",
                "arguments": [{"name": "text", "required": True}],
            }
            prompts.append(_ok(http.post(f"{base}/prompts", json=body), 201))
            uri = f"docs://soak/{i}"
            resources.append(
                _ok(http.post(f"{base}/resources", json={"uri": uri, "name": f"doc_{i}", "text": "# Soak " * 40}), 201)
            )
        members = {
            "tool_ids": [t["id"] for t in tools[: cfg.tools // 2]],
            "prompt_ids": [p["id"] for p in prompts],
            "resource_ids": [r["id"] for r in resources],
        }
        server = _ok(http.post(f"{base}/servers", json={"name": "soak", **members}), 201)
        client = _ok(http.post(f"{base}/tokens", json={"name": "soak-client", "role": "client"}), 201)
        editor = _ok(http.post(f"{base}/tokens", json={"name": "soak-editor", "role": "editor"}), 201)
        _ok(http.get(f"{base}/tools", params={"min_position": editor["position"], "limit": 1}), 200)
    return Catalog(
        url=url,
        client_token=client["token"],
        editor_token=editor["token"],
        server_id=server["id"],
        tool_ids=[t["id"] for t in tools],
        tool_names=[f"tool_{i:04d}" for i in range(cfg.tools)],
        prompt_names=[f"prompt_{i}" for i in range(10)],
        resource_uris=[f"docs://soak/{i}" for i in range(10)],
    )


# -- load ------------------------------------------------------------------------------------------


class OpError(Exception):
    """An answer that is not what a good one looks like; the message is its kind."""


@dataclass
class Sample:
    at: float  # seconds since the measured part began (negative: warm-up)
    op: str
    ms: float


@dataclass
class Results:
    samples: list[Sample] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    rss: dict[int, list[tuple[float, float]]] = field(default_factory=dict)  # pid -> [(seconds, MB)]
    cpu: dict[int, list[tuple[float, float]]] = field(default_factory=dict)  # pid -> [(seconds, CPU seconds)]
    main_pid: int = 0
    load_cpu: list[tuple[float, float]] = field(default_factory=list)  # this process: [(seconds, CPU seconds)]
    loadavg: list[tuple[float, float]] = field(default_factory=list)  # the machine's 1-minute load average

    def error(self, op: str, kind: str) -> None:
        key = f"{op}: {kind}"
        self.errors[key] = self.errors.get(key, 0) + 1


def _rpc(method: str, params: dict[str, Any], modern: bool) -> dict[str, Any]:
    if modern:
        params = {
            **params,
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": MODERN,
                "io.modelcontextprotocol/clientCapabilities": {},
            },
        }
    return {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}


class LoadTask:
    """One client: its own legacy sessions, one request at a time, at its own pace."""

    def __init__(self, http: httpx.AsyncClient, catalog: Catalog, echo_port: int, rng: random.Random) -> None:
        self.http, self.catalog, self.echo_port, self.rng = http, catalog, echo_port, rng
        self.sessions: dict[str, str] = {}
        self.mcp = {
            "Authorization": f"Bearer {catalog.client_token}",
            "Accept": ACCEPT,
            "Content-Type": "application/json",
        }
        self.rest = {"Authorization": f"Bearer {catalog.editor_token}"}

    async def open_sessions(self) -> None:
        for path in ("/mcp", f"/servers/{self.catalog.server_id}/mcp"):
            params = {"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "soak", "version": "1"}}
            body = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": params}
            response = await self.http.post(path, json=body, headers=self.mcp)
            if response.status_code != 200:
                raise RuntimeError(f"initialize on {path}: {response.status_code} {response.text}")
            session = response.headers["mcp-session-id"]
            headers = {**self.mcp, "Mcp-Session-Id": session, "MCP-Protocol-Version": LEGACY}
            await self.http.post(path, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers)
            self.sessions[path] = session

    async def close_sessions(self) -> None:
        for path, session in self.sessions.items():
            await self.http.delete(path, headers={**self.mcp, "Mcp-Session-Id": session})

    async def mcp_call(
        self, path: str, method: str, params: dict[str, Any], modern: bool, name: str | None = None
    ) -> dict[str, Any]:
        if modern:
            headers = {**self.mcp, "MCP-Protocol-Version": MODERN, "Mcp-Method": method}
            if name is not None:
                headers["Mcp-Name"] = name
        else:
            headers = {**self.mcp, "Mcp-Session-Id": self.sessions[path], "MCP-Protocol-Version": LEGACY}
        response = await self.http.post(path, json=_rpc(method, params, modern), headers=headers)
        if response.status_code != 200:
            raise OpError(f"http {response.status_code}")
        body = response.json()
        if "error" in body:
            raise OpError(f"json-rpc {body['error'].get('code')}")
        result = body.get("result") or {}
        if result.get("isError"):
            raise OpError("isError")
        return result  # type: ignore[no-any-return]

    async def run_op(self, op: str) -> None:
        c, rng = self.catalog, self.rng
        modern = op.endswith("modern")
        server = f"/servers/{c.server_id}/mcp"
        if op.startswith("tools/list"):
            await self.mcp_call("/mcp", "tools/list", {}, modern)
        elif op.startswith("server tools/list"):
            await self.mcp_call(server, "tools/list", {}, modern)
        elif op.startswith("tools/call"):
            name = rng.choice(c.tool_names)
            result = await self.mcp_call("/mcp", "tools/call", {"name": name, "arguments": {"q": "soak"}}, modern, name)
            if "q=soak" not in json.dumps(result):
                raise OpError("unexpected call result")
        elif op.startswith("prompts/get"):
            name = rng.choice(c.prompt_names)
            await self.mcp_call(server, "prompts/get", {"name": name, "arguments": {"text": "soak"}}, modern, name)
        elif op.startswith("resources/read"):
            uri = rng.choice(c.resource_uris)
            await self.mcp_call(server, "resources/read", {"uri": uri}, modern, uri)
        else:
            await self.rest_op(op)

    async def rest_op(self, op: str) -> None:
        c, base = self.catalog, f"/v1/tenants/{TENANT}/tools"
        if op == "rest list tools":
            response = await self.http.get(base, params={"limit": 50}, headers=self.rest)
        elif op == "rest get tool":
            response = await self.http.get(f"{base}/{self.rng.choice(c.tool_ids)}", headers=self.rest)
        elif op == "rest patch tool":
            body = {"description": f"patched {self.rng.random():.6f}"}
            response = await self.http.patch(f"{base}/{self.rng.choice(c.tool_ids)}", json=body, headers=self.rest)
        elif len(c.churn) >= CHURN_POOL:
            response = await self.http.delete(f"{base}/{c.churn.popleft()}", headers=self.rest)
        else:
            body = tool_body(f"churn_{secrets.token_hex(6)}", self.echo_port)
            response = await self.http.post(base, json=body, headers=self.rest)
            if response.status_code == 201:
                c.churn.append(response.json()["id"])
        if response.status_code not in (200, 201):
            raise OpError(f"http {response.status_code}")


async def drive(
    task: LoadTask, results: Results, ops: list[str], weights: list[int], interval_s: float, start: float, end: float
) -> None:
    """Requests at the task's pace (one per ``interval_s``; late ones go at once) until ``end``."""
    loop = asyncio.get_running_loop()
    due = loop.time() + task.rng.random() * interval_s
    while (now := loop.time()) < end:
        if due > now:
            await asyncio.sleep(due - now)
        due = max(due + interval_s, loop.time() - interval_s)  # running late does not pile requests up
        op = task.rng.choices(ops, weights)[0]
        sent = loop.time()
        try:
            await task.run_op(op)
        except OpError as exc:
            results.error(op, str(exc))
            continue
        except httpx.HTTPError as exc:
            results.error(op, f"transport: {exc.__class__.__name__}")
            continue
        results.samples.append(Sample(sent - start, op, (loop.time() - sent) * 1000))


async def sample_rss(results: Results, interval_s: float, start: float, end: float) -> None:
    loop = asyncio.get_running_loop()
    while loop.time() < end:
        at = loop.time() - start
        for pid in [results.main_pid, *descendants(results.main_pid)]:
            mb, cpu = rss_mb(pid), cpu_s(pid)
            if mb is not None and cpu is not None:
                results.rss.setdefault(pid, []).append((at, mb))
                results.cpu.setdefault(pid, []).append((at, cpu))
        results.load_cpu.append((at, time.process_time()))
        results.loadavg.append((at, os.getloadavg()[0]))
        await asyncio.sleep(min(interval_s, max(0.0, end - loop.time())))


async def load(cfg: Config, catalog: Catalog, echo_port: int, results: Results) -> None:
    rng = random.Random(cfg.seed)
    ops, weights = [op for op, _, _ in MIX], [w for _, _, w in MIX]
    limits = httpx.Limits(max_connections=cfg.tasks * 2, max_keepalive_connections=cfg.tasks * 2)
    async with httpx.AsyncClient(base_url=catalog.url, timeout=REQUEST_TIMEOUT_S, limits=limits) as http:
        tasks = [LoadTask(http, catalog, echo_port, random.Random(rng.random())) for _ in range(cfg.tasks)]
        await asyncio.gather(*(t.open_sessions() for t in tasks))
        loop = asyncio.get_running_loop()
        start = loop.time() + cfg.warmup_s
        end = start + cfg.minutes * 60
        interval = cfg.tasks / cfg.rate
        say(f"  load: {cfg.tasks} tasks at {cfg.rate:g} req/s for {cfg.warmup_s:g} s of warm-up + {cfg.minutes:g} min")
        await asyncio.gather(
            sample_rss(results, cfg.sample_s, start, end),
            *(drive(t, results, ops, weights, interval, start, end) for t in tasks),
        )
        await asyncio.gather(*(t.close_sessions() for t in tasks), return_exceptions=True)


# -- figures ---------------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    """Nearest rank of an ascending list."""
    return values[max(0, min(len(values) - 1, math.ceil(p / 100 * len(values)) - 1))] if values else float("nan")


def slope_mb_per_min(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB), in MB/min."""
    if len(points) < 2:
        return float("nan")
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_m = sum(m for _, m in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    return 60 * sum((t - mean_t) * (m - mean_m) for t, m in points) / var if var else float("nan")


def per_minute(results: Results, minutes: float) -> list[dict[str, Any]]:
    rows = []
    for minute in range(math.ceil(minutes)):
        window = [s for s in results.samples if minute * 60 <= s.at < (minute + 1) * 60]
        span = min(60.0, minutes * 60 - minute * 60)
        row: dict[str, Any] = {"minute": minute + 1, "requests": len(window), "rps": len(window) / span}
        everything = sorted(s.ms for s in window)
        row["all"] = {"p50": percentile(everything, 50), "p99": percentile(everything, 99)}
        for kind in KINDS:
            values = sorted(s.ms for s in window if KIND_OF[s.op] == kind)
            row[kind] = {"n": len(values), "p50": percentile(values, 50), "p99": percentile(values, 99)}
        rows.append(row)
    return rows


def per_op(results: Results) -> dict[str, dict[str, float]]:
    found = {}
    for op, _, _ in MIX:
        values = sorted(s.ms for s in results.samples if s.op == op and s.at >= 0)
        found[op] = {
            "n": len(values),
            "p50": percentile(values, 50),
            "p99": percentile(values, 99),
            "max": values[-1] if values else float("nan"),
        }
    return found


def memory(results: Results, minutes: float) -> list[dict[str, Any]]:
    rows = []
    half = minutes * 30
    for pid, points in sorted(results.rss.items()):
        measured = [p for p in points if p[0] >= 0]
        if not measured:
            continue
        second_half = [p for p in measured if p[0] >= half]
        cpu = [p for p in results.cpu[pid] if p[0] >= 0]
        span = cpu[-1][0] - cpu[0][0]
        rows.append(
            {
                "pid": pid,
                "role": "main" if pid == results.main_pid else "worker",
                "start_mb": measured[0][1],
                "end_mb": measured[-1][1],
                "peak_mb": max(m for _, m in measured),
                "slope_mb_per_min": slope_mb_per_min(measured),
                "second_half_slope_mb_per_min": slope_mb_per_min(second_half),
                "cpu_percent": 100 * (cpu[-1][1] - cpu[0][1]) / span if span > 0 else float("nan"),
                "samples": len(measured),
                "seen_from_s": measured[0][0],
                "seen_until_s": measured[-1][0],
            }
        )
    return rows


def report(
    cfg: Config,
    minutes: list[dict[str, Any]],
    ops: dict[str, dict[str, float]],
    mem: list[dict[str, Any]],
    results: Results,
) -> None:
    say("")
    say(f"Soak: {cfg.workers} workers, PostgreSQL + Redis, {cfg.rate:g} req/s target, {cfg.minutes:g} min measured")
    say(f"{'minute':>6} {'req/s':>7} {'all p50/p99 ms':>16} " + " ".join(f"{k + ' p99':>14}" for k in KINDS))
    for row in minutes:
        say(
            f"{row['minute']:>6} {row['rps']:7.1f} {row['all']['p50']:7.2f}/{row['all']['p99']:<8.2f} "
            + " ".join(f"{row[k]['p99']:14.2f}" for k in KINDS)
        )
    say("")
    say(f"{'operation':28} {'requests':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for op, row in ops.items():
        say(f"{op:28} {row['n']:>9} {row['p50']:8.2f} {row['p99']:8.2f} {row['max']:8.1f}")
    say("")
    say(f"{'process':14} {'RSS start':>10} {'end':>8} {'peak':>8} {'MB/min':>8} {'2nd half':>9} {'CPU':>5}  target")
    for row in mem:
        slope = row["second_half_slope_mb_per_min"]
        outcome = "too few samples" if math.isnan(slope) else "met" if abs(slope) <= FLAT_MB_PER_MIN else "missed"
        verdict = f"flat (|2nd half| <= {FLAT_MB_PER_MIN:g} MB/min): {outcome}"
        say(
            f"{row['role'] + ' ' + str(row['pid']):14} {row['start_mb']:10.1f} {row['end_mb']:8.1f}"
            f" {row['peak_mb']:8.1f}"
            f" {row['slope_mb_per_min']:8.2f} {row['second_half_slope_mb_per_min']:9.2f} {row['cpu_percent']:4.0f}%"
            f"  {verdict}"
        )
    measured = [p for p in results.load_cpu if p[0] >= 0]
    if len(measured) > 1:
        load_cpu = 100 * (measured[-1][1] - measured[0][1]) / (measured[-1][0] - measured[0][0])
        say(f"{'load (this process)':14} {'':>10} {'':>8} {'':>8} {'':>8} {'':>9} {load_cpu:4.0f}%")
    averages = [v for at, v in results.loadavg if at >= 0]
    if averages:
        say(
            f"machine load average (1 min) during the run: {min(averages):.1f} to {max(averages):.1f}"
            f" on {os.cpu_count()} CPUs"
        )
    total = sum(results.errors.values())
    say("")
    say(f"errors: {total} (target 0)" + (f": {json.dumps(results.errors, indent=1)}" if total else ""))


def _git_commit() -> str | None:
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=BENCH, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None


def write_results(cfg: Config, started: datetime, document: dict[str, Any], results: Results) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"soak-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    config = {k: v for k, v in cfg.__dict__.items() if k not in ("postgres_url", "redis_url")}
    document = {
        "benchmark": "soak",
        "started_at": started.isoformat(),
        "config": config,
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0], "platform": platform.platform()},
        "git_commit": _git_commit(),
        **document,
        "rss_samples": {str(pid): points for pid, points in results.rss.items()},
        "cpu_samples": {str(pid): points for pid, points in results.cpu.items()},
        "load_process_cpu_samples": results.load_cpu,
        "loadavg_samples": results.loadavg,
    }
    path.write_text(json.dumps(document, indent=2))
    return path


# -- main ------------------------------------------------------------------------------------------


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so that every process started here is stopped."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(cfg: Config) -> int:
    if not redis_reachable(cfg.redis_url):
        say(f"Redis is not reachable at {cfg.redis_url}: the soak needs it (2 workers share sessions through it)")
        return 2
    started = datetime.now(UTC)
    results = Results()
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="ledgergate-bench-soak-") as tmp:
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        database_url = stack.enter_context(postgres_schema(cfg.postgres_url))
        echo_port = start_echo(stack)
        gateway, url = start_gateway(stack, data_dir, cfg, database_url)
        results.main_pid = gateway.pid
        say(f"  gateway ready at {url}: main pid {gateway.pid}, workers {descendants(gateway.pid)}")
        catalog = build_catalog(url, (data_dir / "admin-token").read_text().strip(), cfg, echo_port)
        asyncio.run(load(cfg, catalog, echo_port, results))
    minutes, ops, mem = per_minute(results, cfg.minutes), per_op(results), memory(results, cfg.minutes)
    report(cfg, minutes, ops, mem, results)
    document: dict[str, Any] = {"per_minute": minutes, "per_operation": ops, "memory": mem, "errors": results.errors}
    document["samples"] = [[round(s.at, 3), s.op, round(s.ms, 3)] for s in results.samples]
    path = write_results(cfg, started, document, results)
    say(f"\nresults: {path.relative_to(ROOT)}")
    return 1 if results.errors else 0


def main(argv: list[str] | None = None) -> int:
    cfg = parse_args(argv)
    try:
        with terminate_as_interrupt():
            return run(cfg)
    except KeyboardInterrupt:
        say("interrupted; the processes started here were stopped")
        return 130


if __name__ == "__main__":
    sys.exit(main())
