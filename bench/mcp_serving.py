"""MCP benchmark: ``tools/list`` of a 1,000-tool virtual server, and the added latency of a REST ``tools/call``.

Every party is a process of its own: the gateway (a real ``ledgergate serve`` on a free loopback port,
SQLite in a temporary directory), the echo service the REST tools call, and the load generator
(``bench/loadgen.py``: asyncio, keep-alive, one connection per unit of concurrency, pre-built requests).

1. ``tools/list`` against ``/servers/{id}/mcp``: modern (stateless, 2026-07-28) at concurrency 1 and 32,
   and legacy (an ``Mcp-Session-Id`` session, 2025-11-25) at concurrency 1; the gateway at 1 worker,
   then at 2 workers (with Redis for the sessions when it is reachable, as the README asks).
2. ``tools/call`` of a REST tool whose integration GETs the echo service, against the echo called
   directly, at concurrency 1 on the 1-worker gateway; the added latency is the median of the paired
   rounds' p50 (and p99) differences.

Scenarios are interleaved round by round, so that the machine's drift hits them alike; the table shows
the median round. ``gw CPU/req`` is the CPU time of the gateway's processes (main and workers) over every
answer of the run, warm-up included; ``client CPU/req`` is the load generator's.

    .venv/bin/python bench/mcp_serving.py            # defaults, about 3 minutes
    .venv/bin/python bench/mcp_serving.py --quick    # 200 tools, one short round, under 40 s

Every sample goes to ``bench/results/mcp-<timestamp>.json`` (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import select
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import httpx
import redis

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
LOADGEN = BENCH_DIR / "loadgen.py"
MODERN = "2026-07-28"
LEGACY = "2025-11-25"
ACCEPT = "application/json, text/event-stream"
TENANT_PATH = "/v1/tenants/default"
TARGET_P50_MS = 2.0  # tools/list at concurrency 1
TARGET_RPS = 3000.0  # tools/list with 2 workers, at the high concurrency
TARGET_ADDED_MS = 1.0  # tools/call through the gateway minus the echo called directly, p50
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
VISIBLE_TIMEOUT_S = 60.0
HTTP_TIMEOUT_S = 30.0
LOAD_GRACE_S = 10.0  # a stuck request may take this long past a run's end before the run is cut
CLK_TCK = os.sysconf("SC_CLK_TCK")


def say(message: str) -> None:
    print(message, flush=True)


# -- configuration ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    tools: int
    rounds: int
    warmup_s: float
    duration_s: float
    max_requests: int
    concurrency: int  # the high one; the low one is always 1
    register_threads: int
    redis_url: str
    quick: bool


def parse_args(argv: list[str] | None = None) -> Config:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="200 tools, 1 round of 0.3 s + 1 s: under 40 s")
    parser.add_argument("--tools", type=int, help="tools in the virtual server (1000; quick: 200)")
    parser.add_argument("--rounds", type=int, help="rounds of every scenario; the table shows the median (3; quick: 1)")
    parser.add_argument("--warmup", type=float, help="untimed seconds before each measurement (1; quick: 0.3)")
    parser.add_argument("--duration", type=float, help="timed seconds of each measurement (5; quick: 1)")
    parser.add_argument("--max-requests", type=int, default=200_000, help="cap of timed requests per measurement")
    parser.add_argument("--concurrency", type=int, default=32, help="the high concurrency (32)")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0", help="sessions of the 2-worker gateway")
    args = parser.parse_args(argv)
    for name in ("tools", "rounds", "duration"):
        if getattr(args, name) is not None and getattr(args, name) <= 0:
            parser.error(f"--{name} must be positive")
    quick = bool(args.quick)
    return Config(
        tools=args.tools or (200 if quick else 1000),
        rounds=args.rounds or (1 if quick else 3),
        warmup_s=args.warmup if args.warmup is not None else (0.3 if quick else 1.0),
        duration_s=args.duration if args.duration is not None else (1.0 if quick else 5.0),
        max_requests=args.max_requests,
        concurrency=args.concurrency,
        register_threads=4,
        redis_url=args.redis_url,
        quick=quick,
    )


# -- processes -------------------------------------------------------------------------------------


@dataclass
class Managed:
    """A child process in a session of its own (its workers too), stopped by its id."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        started = time.perf_counter()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                say(f"  {self.name} (pid {self.pid}) did not stop in {STOP_TIMEOUT_S:g} s: killing its process group")
                os.killpg(self.pid, signal.SIGKILL)
                self.process.wait()
            say(f"  stopped {self.name} in {time.perf_counter() - started:.1f} s")
        self._kill_stragglers()
        if self.process.stdout is not None:
            self.process.stdout.close()

    def _kill_stragglers(self) -> None:
        """Workers left behind by a main process that exited (its group is the one created for it)."""
        try:
            os.killpg(self.pid, 0)
        except (ProcessLookupError, PermissionError):
            return
        say(f"  {self.name}: processes left in its group {self.pid}: killing them")
        os.killpg(self.pid, signal.SIGKILL)

    def log_tail(self, lines: int = 30) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def spawn(name: str, args: list[str], stack: ExitStack, **kwargs: Any) -> Managed:
    managed = Managed(name, subprocess.Popen(args, start_new_session=True, **kwargs))
    stack.callback(managed.stop)
    return managed


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_echo(stack: ExitStack) -> tuple[Managed, int]:
    echo = spawn("echo", [sys.executable, str(LOADGEN), "echo"], stack, stdout=subprocess.PIPE)
    assert echo.process.stdout is not None
    ready, _, _ = select.select([echo.process.stdout], [], [], READY_TIMEOUT_S)
    line = echo.process.stdout.readline().decode() if ready else ""
    if not line.startswith("port "):
        raise RuntimeError(f"the echo service did not start: {line!r}")
    return echo, int(line.split()[1])


@dataclass
class Gateway:
    managed: Managed
    port: int
    token: str
    workers: int
    redis: bool

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=HTTP_TIMEOUT_S)


def _gateway_env(data_dir: Path, port: int, workers: int, redis_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGERGATE_")}
    env |= {
        "LEDGERGATE_DATA_DIR": str(data_dir),
        "LEDGERGATE_HOST": "127.0.0.1",
        "LEDGERGATE_PORT": str(port),
        "LEDGERGATE_WORKERS": str(workers),
    }
    if redis_url:
        env["LEDGERGATE_REDIS_URL"] = redis_url
    return env


def _wait_ready(managed: Managed, url: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if managed.process.poll() is not None:
            raise RuntimeError(f"the gateway exited with {managed.process.returncode}:\n{managed.log_tail()}")
        try:
            if httpx.get(url + "/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the gateway was not ready in {READY_TIMEOUT_S:g} s:\n{managed.log_tail()}")


def start_gateway(stack: ExitStack, data_dir: Path, workers: int, redis_url: str | None) -> Gateway:
    """``ledgergate serve`` (``python -m ledgergate.api.cli serve``) on a free port, run from a temporary directory."""
    port = free_port()
    log_path = data_dir.parent / f"gateway-{workers}w.log"
    log_file: IO[bytes] = stack.enter_context(log_path.open("wb"))
    managed = spawn(
        f"gateway ({workers} worker(s))",
        [sys.executable, "-m", "ledgergate.api.cli", "serve"],
        stack,
        env=_gateway_env(data_dir, port, workers, redis_url),
        cwd=data_dir.parent,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    managed.log_path = log_path
    started = time.perf_counter()
    _wait_ready(managed, f"http://127.0.0.1:{port}")
    say(f"  ready in {time.perf_counter() - started:.1f} s on port {port} (pid {managed.pid})")
    token = (data_dir / "admin-token").read_text().strip()
    return Gateway(managed, port, token, workers, redis_url is not None)


def tree_cpu_s(session_id: int) -> float:
    """CPU seconds of every live process of a session (the gateway and its workers)."""
    total = 0
    for stat_path in Path("/proc").glob("[0-9]*/stat"):
        try:
            stat = stat_path.read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # fields from the 3rd on: state, ppid, pgrp, session, ...
        if int(fields[3]) == session_id:
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLK_TCK


def redis_reachable(url: str) -> bool:
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (redis.RedisError, OSError):
        return False


# -- catalog setup ---------------------------------------------------------------------------------


def _check(response: httpx.Response, *statuses: int) -> httpx.Response:
    if response.status_code not in statuses:
        raise RuntimeError(f"{response.request.method} {response.request.url}: {response.status_code} {response.text}")
    return response


def tool_body(index: int, echo_port: int) -> dict[str, Any]:
    return {
        "name": f"tool_{index:04d}",
        "description": f"Benchmark tool {index}: looks q up and returns what the echo service answers.",
        "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}},
        "integration": {"method": "GET", "url": f"http://127.0.0.1:{echo_port}/echo"},
    }


def register(gateway: Gateway, cfg: Config, echo_port: int) -> tuple[str, int]:
    """Create the tools (a few threads) and a virtual server of them; its id and the last write's position."""
    started = time.perf_counter()
    with gateway.client() as client:

        def create(index: int) -> dict[str, Any]:
            return _check(client.post(f"{TENANT_PATH}/tools", json=tool_body(index, echo_port)), 201).json()

        with ThreadPoolExecutor(cfg.register_threads) as pool:
            written = list(pool.map(create, range(cfg.tools)))
        body = {"name": "bench", "tool_ids": [w["id"] for w in written]}
        server = _check(client.post(f"{TENANT_PATH}/servers", json=body), 201).json()
    say(f"  registered {cfg.tools} tools and a virtual server in {time.perf_counter() - started:.1f} s")
    return server["id"], int(server["position"])


def wait_visible(gateway: Gateway, position: int) -> None:
    deadline = time.monotonic() + VISIBLE_TIMEOUT_S
    with gateway.client() as client:
        while time.monotonic() < deadline:
            response = client.get(f"{TENANT_PATH}/tools", params={"min_position": position, "limit": 1})
            if response.status_code == 200:
                return
            time.sleep(0.1)
    raise RuntimeError(f"position {position} did not become visible in {VISIBLE_TIMEOUT_S:g} s")


# -- requests --------------------------------------------------------------------------------------


def http_request(method: str, path: str, port: int, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", *(f"{k}: {v}" for k, v in headers.items())]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def rpc_body(method: str, params: dict[str, Any], modern: bool) -> bytes:
    if modern:
        meta = {"io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {}}
        params = {**params, "_meta": meta}
    return json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, separators=(",", ":")).encode()


def mcp_headers(
    gateway: Gateway, method: str, session_id: str | None = None, name: str | None = None
) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {gateway.token}", "Accept": ACCEPT, "Content-Type": "application/json"}
    if session_id is None:
        headers |= {"MCP-Protocol-Version": MODERN, "Mcp-Method": method}
        if name is not None:
            headers["Mcp-Name"] = name
    else:
        headers |= {"MCP-Protocol-Version": LEGACY, "Mcp-Session-Id": session_id}
    return headers


@dataclass(frozen=True)
class Probe:
    """A request as raw bytes for the load generator and as parts for httpx (to check it first)."""

    port: int
    path: str
    headers: dict[str, str]
    body: bytes = b""
    method: str = "POST"

    @property
    def raw(self) -> bytes:
        return http_request(self.method, self.path, self.port, self.headers, self.body)

    def send(self) -> httpx.Response:
        url = f"http://127.0.0.1:{self.port}{self.path}"
        return httpx.request(self.method, url, headers=self.headers, content=self.body, timeout=HTTP_TIMEOUT_S)


def list_probe(gateway: Gateway, server_id: str, session_id: str | None = None) -> Probe:
    modern = session_id is None
    body = rpc_body("tools/list", {}, modern)
    return Probe(gateway.port, f"/servers/{server_id}/mcp", mcp_headers(gateway, "tools/list", session_id), body)


def call_probe(gateway: Gateway, server_id: str) -> Probe:
    body = rpc_body("tools/call", {"name": "tool_0000", "arguments": {"q": "hello"}}, modern=True)
    headers = mcp_headers(gateway, "tools/call", name="tool_0000")
    return Probe(gateway.port, f"/servers/{server_id}/mcp", headers, body)


def echo_probe(echo_port: int) -> Probe:
    return Probe(echo_port, "/echo?q=hello", {"Accept": "*/*"}, method="GET")


def open_legacy_session(gateway: Gateway, server_id: str) -> str:
    path = f"/servers/{server_id}/mcp"
    params = {"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}
    headers = {"Authorization": f"Bearer {gateway.token}", "Accept": ACCEPT, "Content-Type": "application/json"}
    with httpx.Client(base_url=gateway.url, headers=headers, timeout=HTTP_TIMEOUT_S) as client:
        init = _check(client.post(path, content=rpc_body("initialize", params, modern=False)), 200)
        session_id = init.headers["mcp-session-id"]
        note = json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"})
        _check(
            client.post(path, content=note, headers={"Mcp-Session-Id": session_id, "MCP-Protocol-Version": LEGACY}), 202
        )
    return session_id


def close_legacy_session(gateway: Gateway, server_id: str, session_id: str) -> None:
    """DELETE the session (with Redis it would outlive the gateway); a gateway already gone is no error."""
    headers = {"Authorization": f"Bearer {gateway.token}", "Mcp-Session-Id": session_id}
    with suppress(httpx.HTTPError):
        httpx.delete(f"{gateway.url}/servers/{server_id}/mcp", headers=headers, timeout=HTTP_TIMEOUT_S)


def result_of(response: httpx.Response) -> dict[str, Any]:
    _check(response, 200)
    message = response.json()
    if "result" not in message:
        raise RuntimeError(f"an error instead of a result: {message}")
    return message["result"]  # type: ignore[no-any-return]


def wait_hot(probe: Probe, tools: int, agreeing: int = 6) -> int:
    """Poll ``tools/list`` (new connections, so every worker is asked) until ``agreeing`` answers in a row
    list every tool; the answer's body length."""
    deadline = time.monotonic() + VISIBLE_TIMEOUT_S
    streak = 0
    while time.monotonic() < deadline:
        response = probe.send()
        result = result_of(response)
        streak = streak + 1 if len(result["tools"]) == tools and "nextCursor" not in result else 0
        if streak >= agreeing:
            return len(response.content)
        time.sleep(0.05)
    raise RuntimeError(f"the MCP endpoint did not list {tools} tools within {VISIBLE_TIMEOUT_S:g} s")


# -- measurements ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    key: str
    label: str
    workers: int  # 0: the echo service, no gateway
    connections: int
    probe: Probe
    expect_len: int | None = None
    expect: str | None = None
    gateway_pid: int | None = None


@dataclass
class Sample:
    scenario: Scenario
    round: int
    result: dict[str, Any]
    gateway_cpu_s: float | None
    loadavg: tuple[float, float, float]

    def to_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario.key,
            "round": self.round,
            "gateway_cpu_s": self.gateway_cpu_s,
            "loadavg_before": self.loadavg,
            **self.result,
        }


def run_loadgen(cfg: Config, scenario: Scenario) -> dict[str, Any]:
    spec = {
        "host": "127.0.0.1",
        "port": scenario.probe.port,
        "request": scenario.probe.raw.decode(),
        "connections": scenario.connections,
        "warmup_s": cfg.warmup_s,
        "duration_s": cfg.duration_s,
        "max_requests": cfg.max_requests,
        "expect_len": scenario.expect_len,
        "expect": scenario.expect,
        "grace_s": LOAD_GRACE_S,
    }
    timeout = cfg.warmup_s + cfg.duration_s + LOAD_GRACE_S + 30
    done = subprocess.run(
        [sys.executable, str(LOADGEN), "load"], input=json.dumps(spec).encode(), capture_output=True, timeout=timeout
    )
    if done.returncode != 0:
        raise RuntimeError(f"the load generator failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def measure(cfg: Config, scenario: Scenario, round_: int) -> Sample:
    loadavg = os.getloadavg()
    pid = scenario.gateway_pid
    cpu_before = tree_cpu_s(pid) if pid else 0.0
    result = run_loadgen(cfg, scenario)
    cpu = tree_cpu_s(pid) - cpu_before if pid else None
    sample = Sample(scenario, round_, result, cpu, loadavg)
    latency = result["latency_ms"]
    errors = sum(result["errors"].values())
    say(
        f"    {scenario.label:44} c={scenario.connections:<3} {result['rps']:8.0f} req/s  "
        f"p50 {latency.get('p50', float('nan')):6.3f} ms  p99 {latency.get('p99', float('nan')):7.3f} ms"
        + (f"  errors {errors}" if errors else "")
    )
    return sample


def run_rounds(cfg: Config, scenarios: list[Scenario]) -> list[Sample]:
    samples = []
    for round_ in range(cfg.rounds):
        say(f"  round {round_ + 1}/{cfg.rounds}")
        samples.extend(measure(cfg, scenario, round_) for scenario in scenarios)
    return samples


# -- the two gateway setups ------------------------------------------------------------------------


@dataclass
class Catalog:
    data_dir: Path
    echo_port: int
    server_id: str = ""
    expect_modern: int = 0


def list_scenarios(cfg: Config, gateway: Gateway, catalog: Catalog, session_id: str | None) -> list[Scenario]:
    w, pid = gateway.workers, gateway.managed.pid
    modern = list_probe(gateway, catalog.server_id)
    scenarios = [
        Scenario(f"list-modern-w{w}-c{c}", "tools/list modern", w, c, modern, catalog.expect_modern, gateway_pid=pid)
        for c in (1, cfg.concurrency)
    ]
    if session_id is not None:
        legacy = list_probe(gateway, catalog.server_id, session_id)
        expect = wait_hot(legacy, cfg.tools, agreeing=2)
        label = f"tools/list legacy ({'redis' if gateway.redis else 'in-memory'} sessions)"
        scenarios.append(Scenario(f"list-legacy-w{w}-c1", label, w, 1, legacy, expect, gateway_pid=pid))
    return scenarios


def call_scenarios(gateway: Gateway, catalog: Catalog) -> list[Scenario]:
    direct, through = echo_probe(catalog.echo_port), call_probe(gateway, catalog.server_id)
    echoed = _check(direct.send(), 200)
    called = result_of(through.send())
    if called.get("isError") or "/echo?q=hello" not in json.dumps(called):
        raise RuntimeError(f"tools/call did not reach the echo service: {called}")
    label = "tools/call through the gateway"
    return [
        Scenario("call-direct-c1", "echo called directly", 0, 1, direct, expect_len=len(echoed.content)),
        Scenario("call-gateway-w1-c1", label, 1, 1, through, expect='"isError":false', gateway_pid=gateway.managed.pid),
    ]


def one_worker(cfg: Config, catalog: Catalog) -> list[Sample]:
    with ExitStack() as stack:
        say("gateway with 1 worker (SQLite, in-memory sessions)")
        gateway = start_gateway(stack, catalog.data_dir, 1, None)
        catalog.server_id, position = register(gateway, cfg, catalog.echo_port)
        wait_visible(gateway, position)
        catalog.expect_modern = wait_hot(list_probe(gateway, catalog.server_id), cfg.tools)
        say(f"  tools/list answer: {catalog.expect_modern / 1024:.0f} KiB of JSON for {cfg.tools} tools")
        session_id = open_legacy_session(gateway, catalog.server_id)
        stack.callback(close_legacy_session, gateway, catalog.server_id, session_id)
        scenarios = list_scenarios(cfg, gateway, catalog, session_id) + call_scenarios(gateway, catalog)
        return run_rounds(cfg, scenarios)


def two_workers(cfg: Config, catalog: Catalog) -> list[Sample]:
    use_redis = redis_reachable(cfg.redis_url)
    with ExitStack() as stack:
        say(f"gateway with 2 workers (SQLite, {'Redis' if use_redis else 'no Redis: no legacy sessions'})")
        gateway = start_gateway(stack, catalog.data_dir, 2, cfg.redis_url if use_redis else None)
        wait_hot(list_probe(gateway, catalog.server_id), cfg.tools)
        session_id = open_legacy_session(gateway, catalog.server_id) if use_redis else None
        if session_id is not None:
            stack.callback(close_legacy_session, gateway, catalog.server_id, session_id)
        return run_rounds(cfg, list_scenarios(cfg, gateway, catalog, session_id))


# -- report ----------------------------------------------------------------------------------------


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


@dataclass
class Row:
    scenario: Scenario
    rps: float
    p50: float
    p99: float
    errors: dict[str, int]
    gateway_us: float | None
    client_us: float
    body_bytes: int

    def to_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario.key,
            "label": self.scenario.label,
            "workers": self.scenario.workers,
            "concurrency": self.scenario.connections,
            "rps": self.rps,
            "p50_ms": self.p50,
            "p99_ms": self.p99,
            "errors": self.errors,
            "gateway_cpu_us_per_request": self.gateway_us,
            "client_cpu_us_per_request": self.client_us,
            "body_bytes": self.body_bytes,
        }


def summarise(samples: list[Sample]) -> list[Row]:
    rows: dict[str, Row] = {}
    for key in dict.fromkeys(s.scenario.key for s in samples):
        mine = [s for s in samples if s.scenario.key == key]
        errors: dict[str, int] = {}
        for sample in mine:
            for kind, count in sample.result["errors"].items():
                errors[kind] = errors.get(kind, 0) + count
        per_request = [s for s in mine if s.result["completed_all"]]
        rows[key] = Row(
            scenario=mine[0].scenario,
            rps=_median([s.result["rps"] for s in mine]),
            p50=_median([s.result["latency_ms"].get("p50", float("nan")) for s in mine]),
            p99=_median([s.result["latency_ms"].get("p99", float("nan")) for s in mine]),
            errors=errors,
            gateway_us=_median([s.gateway_cpu_s / s.result["completed_all"] * 1e6 for s in per_request])
            if mine[0].gateway_cpu_s is not None
            else None,
            client_us=_median([s.result["client_cpu_s"] / s.result["completed_all"] * 1e6 for s in per_request]),
            body_bytes=mine[0].result["body_bytes"],
        )
    return list(rows.values())


@dataclass(frozen=True)
class Check:
    key: str  # a scenario's key, or "call-added"
    metric: str
    value: float
    target: float
    lower_is_better: bool

    @property
    def met(self) -> bool:
        return self.value <= self.target if self.lower_is_better else self.value >= self.target

    @property
    def verdict(self) -> str:
        sign = "<=" if self.lower_is_better else ">="
        return f"{self.metric} {sign} {self.target:g}: {self.value / self.target:.2f}x {'ok' if self.met else 'MISSED'}"

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "met": self.met, "verdict": self.verdict}


def targets(rows: list[Row], added: dict[str, float], high: int) -> list[Check]:
    checks = []
    for row in rows:
        key, scenario = row.scenario.key, row.scenario
        if key.startswith("list-") and scenario.connections == 1:
            checks.append(Check(key, "p50 ms", row.p50, TARGET_P50_MS, True))
        if key.startswith("list-") and scenario.workers == 2 and scenario.connections == high:
            checks.append(Check(key, "req/s", row.rps, TARGET_RPS, False))
    checks.append(Check("call-added", "added p50 ms", added["p50"], TARGET_ADDED_MS, True))
    return checks


def added_latency(samples: list[Sample]) -> dict[str, float]:
    """The median over rounds of (through the gateway - direct), for p50 and p99: rounds are interleaved pairs."""
    by_round: dict[int, dict[str, dict[str, float]]] = {}
    for sample in samples:
        if sample.scenario.key.startswith("call-"):
            by_round.setdefault(sample.round, {})[sample.scenario.key] = sample.result["latency_ms"]
    pairs = [r for r in by_round.values() if len(r) == 2]
    nan = float("nan")
    return {
        p: _median([r["call-gateway-w1-c1"].get(p, nan) - r["call-direct-c1"].get(p, nan) for r in pairs])
        for p in ("p50", "p99")
    }


def print_tables(rows: list[Row], added: dict[str, float], checks: list[Check]) -> None:
    verdicts: dict[str, list[str]] = {}
    for check in checks:
        verdicts.setdefault(check.key, []).append(check.verdict)
    say("")
    say(
        f"{'scenario':44} {'workers':>7} {'conc':>4} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} "
        f"{'gw CPU/req':>10} {'client CPU/req':>14}  target"
    )
    for row in rows:
        workers = str(row.scenario.workers) if row.scenario.workers else "-"
        gateway = f"{row.gateway_us:.0f} us" if row.gateway_us is not None else "-"
        say(
            f"{row.scenario.label:44} {workers:>7} {row.scenario.connections:>4} {row.rps:8.0f} {row.p50:7.3f} "
            f"{row.p99:7.3f} {sum(row.errors.values()):>6} {gateway:>10} {row.client_us:>11.0f} us  "
            + "; ".join(verdicts.get(row.scenario.key, []))
        )
    say(
        f"{'tools/call added (gateway - direct, paired)':44} {'1':>7} {'1':>4} {'':>8} {added['p50']:7.3f} "
        f"{added['p99']:7.3f} {'':>6} {'':>10} {'':>14}  " + "; ".join(verdicts.get("call-added", []))
    )
    errors = {row.scenario.key: row.errors for row in rows if row.errors}
    if errors:
        say(f"errors: {errors}")


def write_results(
    cfg: Config, samples: list[Sample], rows: list[Row], added: dict[str, float], checks: list[Check], started: datetime
) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"mcp-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    document = {
        "benchmark": "mcp",
        "started_at": started.isoformat(),
        "config": cfg.__dict__,
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0], "platform": platform.platform()},
        "git_commit": _git_commit(),
        "summary": [row.to_json() for row in rows],
        "tools_call_added_ms": added,
        "targets": [check.to_json() for check in checks],
        "samples": [sample.to_json() for sample in samples],
    }
    path.write_text(json.dumps(document, indent=2))
    return path


def _git_commit() -> str | None:
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=BENCH_DIR, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None


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
    started = datetime.now(UTC)
    clock = time.perf_counter()
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="ledgergate-bench-mcp-") as tmp:
        _, echo_port = start_echo(stack)
        catalog = Catalog(Path(tmp) / "data", echo_port)
        catalog.data_dir.mkdir()
        samples = one_worker(cfg, catalog)
        samples += two_workers(cfg, catalog)
    rows = summarise(samples)
    added = added_latency(samples)
    checks = targets(rows, added, cfg.concurrency)
    print_tables(rows, added, checks)
    path = write_results(cfg, samples, rows, added, checks, started)
    say(f"\n{len(samples)} measurements in {time.perf_counter() - clock:.0f} s; results: {path}")
    return 0


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
