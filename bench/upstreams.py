"""Upstream benchmark: ``tools/call`` forwarded by the gateway vs sent directly, and discovery of 1,000 tools.

Starts on loopback, each in its own process: the SDK test upstream (``tests.support.upstream_server``,
streamable HTTP), a real ``ledgergate serve`` (SQLite, one worker), an SDK ``MCPServer`` with 1,000 tools,
and for every timed run ``bench/loadgen.py`` (raw HTTP/1.1 keep-alive, pre-built request bytes).

    .venv/bin/python bench/upstreams.py            # defaults, about 2 minutes
    .venv/bin/python bench/upstreams.py --quick    # under 40 s

1. ``tools/call`` of ``echo`` directly on the upstream and of ``fast__echo`` through the gateway, both in the
   stateless protocol 2026-07-28, at concurrency 1 and 32, direct and gateway alternating in rounds:
   p50/p99, requests/s and CPU per request of each server process (from /proc, warm-up included).
2. Registration of the 1,000-tool upstream: the POST's wall time, then until ``tools/call`` of the last
   tool succeeds through the gateway; a new upstream name per round, deleted after it.

Diagnostics for where the time goes, timed in this process: the gateway's hop to the upstream
(``HttpUpstreamClient``, one aiohttp POST; ``UpstreamPool.call_tool``, the SDK client, still used for stdio
and SSE upstreams) against a bare httpx2 POST, and on the many-tool
upstream the SDK discovery alone and the first call on a new pooled connection.
Prints a table of medians and writes every figure to ``bench/results/upstreams-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import httpx

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS_DIR = BENCH / "results"
LOADGEN = BENCH / "loadgen.py"
# Run as a script, bench/ leads sys.path; the project root goes there instead (for ``tests.support`` and
# ``tests.api.conftest``), and no file of bench/ can shadow a package.
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() not in (BENCH, ROOT)]
MODERN = "2026-07-28"
ECHO_TEXT = "ledgergate-bench-echo"  # only a good answer of echo contains it
CLK_TCK = os.sysconf("SC_CLK_TCK")
START_TIMEOUT_S = 60.0  # a server process becoming ready
LOADGEN_GRACE_S = 30.0  # a load run past its warm-up, duration and own grace: the load generator is hung
CALLABLE_TIMEOUT_S = 30.0  # the last discovered tool becoming callable; later counts as never
POLL_PAUSE_S = 0.005
DIAGNOSTIC_S = 20.0  # time cap of one diagnostic client timing
TARGET_ADDED_P50_MS = 1.0
TARGET_THROUGHPUT = 0.8
TARGET_CALLABLE_S = 2.0


def say(message: str) -> None:
    print(message, flush=True)


# -- configuration ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    rounds: int  # direct and gateway alternate; the table shows the median round
    concurrency: tuple[int, ...]
    warmup_s: float  # untimed load before every timed run
    seconds: float  # time cap of one timed run
    max_requests: int  # count cap of one timed run
    pool_calls: int  # calls of each diagnostic client timing
    tools: int  # tools of the discovery upstream
    discovery_rounds: int


def parse_args(argv: list[str] | None = None) -> Config:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of direct and gateway runs (3)")
    parser.add_argument("--concurrency", default="1,32", help="connections per run, comma-separated (1,32)")
    parser.add_argument("--warmup", type=float, default=1.0, help="untimed seconds before each run (1)")
    parser.add_argument("--seconds", type=float, default=6.0, help="time cap of a timed run (6)")
    parser.add_argument("--max-requests", type=int, default=50_000, help="count cap of a timed run (50000)")
    parser.add_argument("--pool-calls", type=int, default=500, help="diagnostic SDK-client calls (500)")
    parser.add_argument("--tools", type=int, default=1000, help="tools of the discovery upstream (1000)")
    parser.add_argument("--discovery-rounds", type=int, default=3, help="registrations; median shown (3)")
    parser.add_argument("--quick", action="store_true", help="small sizes: the whole run in under 40 s")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.warmup, args.seconds, args.pool_calls, args.discovery_rounds = 1, 0.5, 2.0, 200, 1
    return Config(
        rounds=args.rounds,
        concurrency=tuple(int(n) for n in args.concurrency.split(",")),
        warmup_s=args.warmup,
        seconds=args.seconds,
        max_requests=args.max_requests,
        pool_calls=args.pool_calls,
        tools=args.tools,
        discovery_rounds=args.discovery_rounds,
    )


# -- processes -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_process(process: subprocess.Popen[Any]) -> None:
    """SIGTERM, then SIGKILL after 10 s: only this process, by its PID."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_for_port(port: int, process: subprocess.Popen[Any], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode}:\n{log.read_text()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{process.args} did not listen on {port} in {START_TIMEOUT_S:.0f} s")


def spawn(stack: ExitStack, args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        process = subprocess.Popen(args, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    stack.callback(stop_process, process)
    return process


@dataclass
class Gateway:
    url: str
    token: str
    pids: list[int]

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def start_gateway(stack: ExitStack, data_dir: Path, log: Path) -> Gateway:
    from tests.api.conftest import start_server

    server = start_server(data_dir)
    stack.callback(server.stop)
    drain(server.process.stdout, log)
    token = (data_dir / "admin-token").read_text().strip()
    return Gateway(url=server.url, token=token, pids=process_tree(server.process.pid))


def drain(stream: IO[str] | None, log: Path) -> None:
    """Copy a server's piped output to a file as it comes. start_server pipes it and reads it only on stop:
    once the pipe is full (64 KiB, some 600 forwarded calls' log lines) the gateway's log writer stalls, its
    queue grows, and stop() ends in a kill after 15 s."""
    if stream is None:
        return
    fd = stream.fileno()

    def pump() -> None:
        with log.open("ab") as out:
            while chunk := os.read(fd, 1 << 16):
                out.write(chunk)

    threading.Thread(target=pump, name="gateway-log", daemon=True).start()


def process_tree(root: int) -> list[int]:
    """The process and its descendants (granian runs its workers as child processes)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    tree, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, parent in parents.items() if parent in frontier]
        tree += frontier
    return tree


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time of these processes, from /proc (0 for any that are gone)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


# -- the 1,000-tool upstream (run as ``upstreams.py --serve-tools PORT COUNT``) ----------------------


def serve_tools(port: int, count: int) -> None:
    from mcp.server.mcpserver import MCPServer

    server = MCPServer(name="many", log_level="WARNING")

    def lookup(key: str, limit: int = 10) -> str:
        return f"{key}:{limit}"

    for i in range(count):
        server.add_tool(lookup, name=f"t{i}", description=f"Look a key up in table number {i}")
    server.run("streamable-http", port=port)


# -- stateless 2026-07-28 tools/call ---------------------------------------------------------------


def call_body(tool: str, arguments: dict[str, Any]) -> bytes:
    meta = {"io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {}}
    params = {"name": tool, "arguments": arguments, "_meta": meta}
    return json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}).encode()


def call_headers(tool: str, auth: dict[str, str] | None = None) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": MODERN,
        "Mcp-Method": "tools/call",
        "Mcp-Name": tool,
        **(auth or {}),
    }


def rpc_message(response: httpx.Response) -> dict[str, Any]:
    """The JSON-RPC message of a JSON or SSE answer (the last ``data:`` line)."""
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        lines = [line[5:].strip() for line in response.text.splitlines() if line.startswith("data:")]
        return json.loads(lines[-1]) if lines else {}
    return response.json()  # type: ignore[no-any-return]


def call_once(http: httpx.Client, url: str, tool: str, arguments: dict[str, Any], auth: dict[str, str] | None) -> str:
    """Empty if the call succeeded, else what went wrong."""
    try:
        response = http.post(url, content=call_body(tool, arguments), headers=call_headers(tool, auth))
        message = rpc_message(response)
    except (httpx.HTTPError, ValueError) as exc:
        return f"{exc.__class__.__name__}: {exc}"
    result = message.get("result")
    if response.status_code != 200 or not isinstance(result, dict) or result.get("isError"):
        return f"HTTP {response.status_code}: {response.text[:300]}"
    return ""


@dataclass(frozen=True)
class Target:
    name: str  # direct or gateway
    url: str
    tool: str
    auth: dict[str, str]
    pids: list[int]  # the server processes on its path: their CPU time is charged to the run

    def request(self) -> str:
        """The raw HTTP/1.1 request, sent as it is over and over (ASCII, so its length in bytes is its length)."""
        url = urlsplit(self.url)
        head = [f"POST {url.path} HTTP/1.1", f"Host: {url.netloc}"]
        head += [f"{k}: {v}" for k, v in call_headers(self.tool, self.auth).items()]
        body = call_body(self.tool, {"text": ECHO_TEXT}).decode()
        return "\r\n".join([*head, f"Content-Length: {len(body)}", "", body])


def check_modern(target: Target) -> None:
    """The run depends on both ends accepting stateless 2026-07-28 requests: fail early and clearly."""
    with httpx.Client(timeout=30) as http:
        problem = call_once(http, target.url, target.tool, {"text": ECHO_TEXT}, target.auth)
    if problem:
        raise RuntimeError(f"{target.name} did not answer a stateless {MODERN} tools/call: {problem}")


# -- part 1: forwarded vs direct tools/call --------------------------------------------------------


def load_run(config: Config, target: Target, concurrency: int, watch: list[int]) -> dict[str, Any]:
    """One timed run by bench/loadgen.py in its own process; CPU of the ``watch`` processes from /proc."""
    url = urlsplit(target.url)
    spec = {
        "host": url.hostname,
        "port": url.port,
        "request": target.request(),
        "connections": concurrency,
        "warmup_s": config.warmup_s,
        "duration_s": config.seconds,
        "max_requests": config.max_requests,
        "expect": ECHO_TEXT,
    }
    cpu_before = {pid: cpu_seconds([pid]) for pid in watch}
    done = subprocess.run(
        [sys.executable, str(LOADGEN), "load"],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        timeout=config.warmup_s + config.seconds + LOADGEN_GRACE_S,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"bench/loadgen.py exited with {done.returncode}: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    answers = max(1, result["completed_all"])
    result["server_cpu_ms_per_request"] = {
        str(pid): (cpu_seconds([pid]) - before) * 1000 / answers for pid, before in cpu_before.items()
    }
    result["client_cpu_ms_per_request"] = result["client_cpu_s"] * 1000 / answers
    return result


def forwarding(config: Config, direct: Target, gateway: Target) -> list[dict[str, Any]]:
    watch = sorted(set(direct.pids) | set(gateway.pids))
    runs = []
    for concurrency in config.concurrency:
        for round_ in range(config.rounds):
            for target in (direct, gateway) if round_ % 2 == 0 else (gateway, direct):
                result = load_run(config, target, concurrency, watch)
                runs.append({"target": target.name, "concurrency": concurrency, "round": round_, **result})
                latency = result["latency_ms"]
                say(
                    f"  c={concurrency:<3} {target.name:<8} round {round_ + 1}: p50 {latency.get('p50', 0):.3f} ms"
                    f"  p99 {latency.get('p99', 0):.3f} ms  {result['rps']:,.0f} req/s  errors {result['errors']}"
                )
    return runs


# -- part 2: discovery of 1,000 tools --------------------------------------------------------------


def wait_callable(http: httpx.Client, gateway: Gateway, tool: str, since: float) -> dict[str, Any]:
    """Call ``tool`` until it answers, bounded by count and time: seconds from ``since``, attempts, problems."""
    first, problem = "", ""
    max_attempts = int(CALLABLE_TIMEOUT_S / POLL_PAUSE_S)
    for attempt in range(1, max_attempts + 1):
        problem = call_once(http, gateway.url + "/mcp", tool, {"key": "k"}, gateway.auth)
        if not problem:
            return {"until_callable_s": time.perf_counter() - since, "call_attempts": attempt, "first_problem": first}
        first = first or problem
        if time.perf_counter() - since > CALLABLE_TIMEOUT_S:
            break
        time.sleep(POLL_PAUSE_S)
    return {"until_callable_s": None, "call_attempts": max_attempts, "first_problem": first, "last_problem": problem}


def discovery_round(gateway: Gateway, url: str, name: str, tools: int) -> dict[str, Any]:
    body = {"name": name, "transport": "streamable_http", "url": url}
    with httpx.Client(timeout=120, headers=gateway.auth) as http:
        started = time.perf_counter()
        response = http.post(gateway.url + "/v1/tenants/default/upstreams", json=body)
        post_s = time.perf_counter() - started
        if response.status_code != 201:
            raise RuntimeError(f"registering {name} answered HTTP {response.status_code}: {response.text[:500]}")
        written = response.json()
        called = wait_callable(http, gateway, f"{name}__t{tools - 1}", started)
        http.delete(f"{gateway.url}/v1/tenants/default/upstreams/{written['id']}")
    until = called["until_callable_s"]
    after = None if until is None else until - post_s
    return {"post_s": post_s, **called, "after_post_s": after, "tools_added": len(written["report"]["added"])}


def discovery(config: Config, gateway: Gateway, url: str) -> list[dict[str, Any]]:
    rounds = []
    for round_ in range(config.discovery_rounds):
        result = discovery_round(gateway, url, f"many{round_}", config.tools)
        rounds.append(result)
        until = result["until_callable_s"]
        say(
            f"  discovery round {round_ + 1}: POST {result['post_s']:.3f} s, callable after "
            f"{'never' if until is None else f'{until:.3f} s'} ({result['tools_added']} tools added)"
        )
    return rounds


# -- diagnostics: the gateway's forwarding path and discovery, in this process -----------------------


async def timed_calls(call: Callable[[], Awaitable[Any]], calls: int, warmup: int = 20) -> dict[str, float]:
    """p50/p99 milliseconds and CPU milliseconds (of this process) per call, after ``warmup`` calls; at most
    ``calls`` calls and ``DIAGNOSTIC_S`` seconds."""
    for _ in range(warmup):
        await call()
    latencies: list[float] = []
    cpu_before, deadline = time.process_time(), time.perf_counter() + DIAGNOSTIC_S
    while len(latencies) < calls and time.perf_counter() < deadline:
        started = time.perf_counter()
        await call()
        latencies.append((time.perf_counter() - started) * 1000)
    cpu_ms = (time.process_time() - cpu_before) * 1000 / len(latencies)
    latencies.sort()
    return {"p50_ms": latencies[len(latencies) // 2], "p99_ms": latencies[int(len(latencies) * 0.99)], "cpu_ms": cpu_ms}


async def client_hops(url: str, calls: int) -> dict[str, dict[str, float]]:
    """The gateway's hop for HTTP upstreams (``HttpUpstreamClient``: one aiohttp POST), the SDK client it
    replaced there (``UpstreamPool.call_tool``, still used for stdio and SSE), and one bare httpx2 POST."""
    import httpx2

    from ledgergate.infrastructure.upstream.http_client import HttpUpstreamClient
    from ledgergate.infrastructure.upstream.mcp_client import UpstreamPool

    fast = HttpUpstreamClient()
    channel = await fast.negotiate(url, {})
    params = {"name": "echo", "arguments": {"text": ECHO_TEXT}}

    pool = UpstreamPool()
    spec = {"id": "bench", "name": "fast", "transport": "streamable_http", "url": url}
    body, headers = call_body("echo", {"text": ECHO_TEXT}), call_headers("echo")

    async def post() -> None:
        (await http.post(url, content=body, headers=headers)).raise_for_status()

    async with httpx2.AsyncClient() as http:
        try:
            return {
                "http_client": await timed_calls(lambda: fast.request(url, {}, channel, "tools/call", params), calls),
                "sdk_pool": await timed_calls(lambda: pool.call_tool(spec, 0, "echo", {"text": ECHO_TEXT}), calls),
                "httpx2_post": await timed_calls(post, calls),
            }
        finally:
            await pool.close()
            await fast.close()


async def sdk_discovery(url: str, tool: str) -> dict[str, Any]:
    """The gateway's SDK steps alone, on the many-tool upstream: discovery (connect, list every page), then the
    first ``call_tool`` on a new pooled connection (which connects again) and a second one."""
    from ledgergate.infrastructure.upstream.mcp_client import McpUpstreamConnector, UpstreamPool

    started = time.perf_counter()
    catalog = await McpUpstreamConnector().discover({"transport": "streamable_http", "url": url})
    discovered = time.perf_counter()
    pool = UpstreamPool()
    spec = {"id": "bench-many", "name": "many", "transport": "streamable_http", "url": url}
    try:
        await pool.call_tool(spec, 0, tool, {"key": "k"})
        first = time.perf_counter()
        await pool.call_tool(spec, 0, tool, {"key": "k"})
        second = time.perf_counter()
    finally:
        await pool.close()
    return {
        "discovery_s": discovered - started,
        "tools": len(catalog.tools),
        "first_call_s": first - discovered,
        "second_call_s": second - first,
    }


def gateway_log_lines(log: Path) -> dict[str, int]:
    lines = log.read_bytes().splitlines() if log.exists() else []
    return {"lines": len(lines), "upstream_request_lines": sum(b"HTTP Request:" in line for line in lines)}


def diagnostics(config: Config, fast_url: str, many_url: str, gateway_log: Path) -> dict[str, Any]:
    hops = asyncio.run(client_hops(fast_url, config.pool_calls))
    for name, hop in hops.items():
        say(f"  {name:<12} p50 {hop['p50_ms']:.3f} ms, client CPU {hop['cpu_ms']:.3f} ms/call")
    sdk = asyncio.run(sdk_discovery(many_url, f"t{config.tools - 1}"))
    say(
        f"  SDK discovery of {sdk['tools']} tools {sdk['discovery_s']:.3f} s; then a new pooled connection:"
        f" first call {sdk['first_call_s']:.3f} s, second {sdk['second_call_s'] * 1000:.1f} ms"
    )
    return {"client_hops": hops, "sdk_many": sdk, "gateway_log": gateway_log_lines(gateway_log)}


# -- report ----------------------------------------------------------------------------------------


def median_of(runs: list[dict[str, Any]], value: Callable[[dict[str, Any]], float]) -> float:
    return statistics.median(value(run) for run in runs) if runs else float("nan")


def summarize(runs: list[dict[str, Any]], gateway_pids: list[int], upstream_pid: int) -> dict[str, Any]:
    def cpu(run: dict[str, Any], pids: list[int]) -> float:
        return sum(run["server_cpu_ms_per_request"].get(str(pid), 0.0) for pid in pids)

    rows: dict[str, Any] = {}
    for run in runs:
        rows.setdefault(f"{run['target']} c={run['concurrency']}", []).append(run)
    return {
        key: {
            "p50_ms": median_of(group, lambda r: r["latency_ms"].get("p50", float("nan"))),
            "p99_ms": median_of(group, lambda r: r["latency_ms"].get("p99", float("nan"))),
            "rps": median_of(group, lambda r: r["rps"]),
            "errors": sum(sum(r["errors"].values()) for r in group),
            "cpu_ms_per_request": {
                "client": median_of(group, lambda r: r["client_cpu_ms_per_request"]),
                "gateway": median_of(group, lambda r: cpu(r, gateway_pids)),
                "upstream": median_of(group, lambda r: cpu(r, [upstream_pid])),
            },
        }
        for key, group in rows.items()
    }


def paired(
    runs: list[dict[str, Any]], concurrency: int, value: Callable[[dict[str, Any], dict[str, Any]], float]
) -> float:
    """Median over rounds of ``value(gateway run, direct run)`` of the same round."""
    by_round: dict[int, dict[str, Any]] = {}
    for run in runs:
        if run["concurrency"] == concurrency:
            by_round.setdefault(run["round"], {})[run["target"]] = run
    values = [value(pair["gateway"], pair["direct"]) for pair in by_round.values() if len(pair) == 2]
    return statistics.median(values) if values else float("nan")


def verdicts(runs: list[dict[str, Any]], config: Config, found: list[dict[str, Any]]) -> dict[str, Any]:
    low, high = min(config.concurrency), max(config.concurrency)
    added = paired(runs, low, lambda g, d: g["latency_ms"]["p50"] - d["latency_ms"]["p50"])
    ratio = paired(runs, high, lambda g, d: g["rps"] / d["rps"] if d["rps"] else float("nan"))
    callable_times = [r["until_callable_s"] for r in found if r["until_callable_s"] is not None]
    until = statistics.median(callable_times) if len(callable_times) == len(found) and found else float("inf")
    return {
        f"p50_added_ms_c{low}": {"value": added, "target": TARGET_ADDED_P50_MS, "met": added <= TARGET_ADDED_P50_MS},
        f"throughput_ratio_c{high}": {"value": ratio, "target": TARGET_THROUGHPUT, "met": ratio >= TARGET_THROUGHPUT},
        "until_callable_s": {"value": until, "target": TARGET_CALLABLE_S, "met": until <= TARGET_CALLABLE_S},
    }


def print_forwarding(summary: dict[str, Any]) -> None:
    say(f"\ntools/call echo, stateless {MODERN}, load from its own process (median of rounds)")
    say(f"{'run':<16}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>9}{'errors':>8}   CPU ms/req: client  gateway  upstream")
    for key, row in summary.items():
        cpu = row["cpu_ms_per_request"]
        say(
            f"{key:<16}{row['p50_ms']:>9.3f}{row['p99_ms']:>9.3f}{row['rps']:>9,.0f}{row['errors']:>8}"
            f"{cpu['client']:>22.3f}{cpu['gateway']:>9.3f}{cpu['upstream']:>10.3f}"
        )


def print_discovery(found: list[dict[str, Any]], sdk: dict[str, Any]) -> None:
    say(f"\ndiscovery of {found[0]['tools_added'] if found else 0} tools (median of {len(found)} rounds)")
    say(f"{'register POST s':>16}{'callable after POST s':>23}{'until callable s':>18}")
    say(
        f"{median_of(found, lambda r: r['post_s']):>16.3f}"
        f"{median_of(found, lambda r: r['after_post_s'] or float('inf')):>23.3f}"
        f"{median_of(found, lambda r: r['until_callable_s'] or float('inf')):>18.3f}"
    )
    say(
        f"  SDK steps alone: discovery {sdk['discovery_s']:.3f} s; first call_tool on a new pooled connection"
        f" {sdk['first_call_s']:.3f} s (second {sdk['second_call_s'] * 1000:.1f} ms)"
    )


def print_hops(diag: dict[str, Any], direct: dict[str, Any]) -> None:
    say("\nthe hop to the upstream alone, c=1: the gateway's clients, in this process, vs raw HTTP")
    say(f"{'client':<36}{'p50 ms':>9}{'p99 ms':>9}{'client CPU ms/call':>20}")
    rows = [
        ("HttpUpstreamClient (HTTP upstreams)", diag["client_hops"]["http_client"]),
        ("UpstreamPool.call_tool (SDK)", diag["client_hops"]["sdk_pool"]),
        ("bare httpx2 POST", diag["client_hops"]["httpx2_post"]),
        ("raw HTTP/1.1 (loadgen, direct c=1)", {**direct, "cpu_ms": direct["cpu_ms_per_request"]["client"]}),
    ]
    for label, hop in rows:
        say(f"{label:<36}{hop['p50_ms']:>9.3f}{hop['p99_ms']:>9.3f}{hop['cpu_ms']:>20.3f}")


def print_targets(checks: dict[str, Any]) -> None:
    say("\ntargets")
    for name, check in checks.items():
        say(f"  {name:<24} {check['value']:>9.3f}  target {check['target']:<5} {'met' if check['met'] else 'MISSED'}")


def write_json(config: Config, document: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS_DIR / f"upstreams-{stamp}.json"
    machine = {"python": sys.version.split()[0], "platform": platform.platform(), "cpus": os.cpu_count()}
    document = {"finished_at": stamp, "config": asdict(config), "machine": machine, **document}
    path.write_text(json.dumps(document, indent=2, default=str))
    return path


# -- main ------------------------------------------------------------------------------------------


@contextmanager
def sigterm_as_exit() -> Iterator[None]:
    """A SIGTERM unwinds like Ctrl-C, so every started process is stopped."""
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@dataclass
class Upstreams:
    fast: subprocess.Popen[bytes]
    fast_url: str
    many_url: str


def start_upstreams(config: Config, stack: ExitStack, tmp: Path) -> Callable[[], Upstreams]:
    """Spawn the fast SDK test upstream and the many-tool one; the returned function waits until both listen."""
    fast_port, many_port = free_port(), free_port()
    fast_args = [sys.executable, "-m", "tests.support.upstream_server", "http", str(fast_port), "fast"]
    many_args = [sys.executable, str(BENCH / "upstreams.py"), "--serve-tools", str(many_port), str(config.tools)]
    fast = spawn(stack, fast_args, tmp / "fast.log")
    many = spawn(stack, many_args, tmp / "many.log")

    def ready() -> Upstreams:
        wait_for_port(fast_port, fast, tmp / "fast.log")
        wait_for_port(many_port, many, tmp / "many.log")
        return Upstreams(fast, f"http://127.0.0.1:{fast_port}/mcp", f"http://127.0.0.1:{many_port}/mcp")

    return ready


def register(gateway: Gateway, name: str, url: str) -> None:
    """Register a streamable HTTP upstream and wait until the catalog shows its tools."""
    with httpx.Client(timeout=60, headers=gateway.auth) as http:
        body = {"name": name, "transport": "streamable_http", "url": url}
        response = http.post(gateway.url + "/v1/tenants/default/upstreams", json=body)
        response.raise_for_status()
        visible = {"min_position": response.json()["position"], "limit": 1}
        http.get(gateway.url + "/v1/tenants/default/tools", params=visible).raise_for_status()


def run(config: Config, stack: ExitStack, tmp: Path) -> dict[str, Any]:
    upstreams_ready = start_upstreams(config, stack, tmp)  # they start while the gateway does
    gateway = start_gateway(stack, tmp / "data", tmp / "gateway.log")
    up = upstreams_ready()
    say(f"gateway {gateway.url} (pids {gateway.pids}), upstream {up.fast_url} (pid {up.fast.pid})")
    register(gateway, "fast", up.fast_url)
    direct = Target("direct", up.fast_url, "echo", {}, [up.fast.pid])
    forwarded = Target("gateway", gateway.url + "/mcp", "fast__echo", gateway.auth, [*gateway.pids, up.fast.pid])
    check_modern(direct)
    check_modern(forwarded)

    say("\n1. tools/call, direct vs through the gateway")
    runs = forwarding(config, direct, forwarded)
    say(f"\n2. discovery of {config.tools} tools")
    found = discovery(config, gateway, up.many_url)
    say("\ndiagnostics")
    diag = diagnostics(config, up.fast_url, up.many_url, tmp / "gateway.log")

    summary = summarize(runs, gateway.pids, up.fast.pid)
    checks = verdicts(runs, config, found)
    print_forwarding(summary)
    print_discovery(found, diag["sdk_many"])
    print_hops(diag, summary[f"direct c={min(config.concurrency)}"])
    print_targets(checks)
    return {"summary": summary, "targets": checks, "runs": runs, "discovery": found, "diagnostics": diag}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--serve-tools"]:
        serve_tools(int(argv[1]), int(argv[2]))
        return 0
    config = parse_args(argv)
    started = time.perf_counter()
    with sigterm_as_exit(), tempfile.TemporaryDirectory(prefix="lg-bench-up-") as tmp, ExitStack() as stack:
        document = run(config, stack, Path(tmp))
    seconds = time.perf_counter() - started
    say(f"\n{seconds:.0f} s; every figure in {write_json(config, {'seconds': seconds, **document})}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
