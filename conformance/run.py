"""``make conformance``: the official MCP conformance suite through the gateway, in every configuration.

    .venv/bin/python -m conformance.run                        # every row, every configuration
    .venv/bin/python -m conformance.run --rows server,stdio --configs 2026-07-28

Installs Node 22 and the pinned suites through npm (``conformance.toolchain``), starts the fixture upstream
(``tests/support/conformance_upstream.py``) and gateways on loopback ports, publishes the fixture through
each gateway as a new user would (one tenant per upstream transport, names unprefixed, a virtual server
holding the upstream whole, a client token), and runs the three configurations (0.1.16; 0.2.0-alpha.12
with ``--requirements 2025-11-25`` and ``2026-07-28``) against each row. The suite cannot send headers, so
it reaches a gateway through ``conformance.proxy``, which adds the bearer token and nothing else.

Rows (``--rows``, or ``ROWS=`` for make):
  fixture   the fixture itself, no gateway (the baseline)
  server    /servers/{id}/mcp, the fixture over streamable HTTP, one worker
  tenant    the tenant's /mcp, same upstream
  sse       /servers/{id}/mcp, the fixture over HTTP+SSE
  stdio     /servers/{id}/mcp, the fixture over stdio
  workers   /servers/{id}/mcp on two workers sharing sessions through Redis
  bridges   ledgergate translate --stdio "ledgergate wrapper --url .../servers/{id}/mcp"

Prints one table of scored scenarios passed per row and configuration, then every failing scenario with
its failing checks; writes ``results.json`` and ``table.md`` under ``conformance/results/<time>/``. Exit
status 0 when every scored scenario passed everywhere, 1 when one failed, 2 when the run could not start.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from conformance import stack, suite, toolchain
from conformance.proxy import bearer_proxy

RESULTS = stack.ROOT / "conformance" / "results"
REDIS_URL = os.environ.get("LEDGERGATE_CONFORMANCE_REDIS_URL", "redis://127.0.0.1:6379/13")
ROWS = {
    "fixture": "fixture alone (no gateway)",
    "server": "/servers/{id}/mcp · HTTP upstream",
    "tenant": "/mcp · HTTP upstream",
    "sse": "/servers/{id}/mcp · SSE upstream",
    "stdio": "/servers/{id}/mcp · stdio upstream",
    "workers": "/servers/{id}/mcp · 2 workers + Redis",
    "bridges": "translate ← wrapper → /servers/{id}/mcp",
}
CONFIG_KEYS = {"0.1.16": suite.CONFIGS[0], "2025-11-25": suite.CONFIGS[1], "2026-07-28": suite.CONFIGS[2]}


class Stack:
    """Starts what a row needs on first use, once; everything ends with the ExitStack."""

    def __init__(self, workdir: Path, exits: ExitStack) -> None:
        self.workdir = workdir
        self.exits = exits
        self._made: dict[str, object] = {}

    def _once(self, key: str, make: Callable[[], object]) -> object:
        if key not in self._made:
            self._made[key] = make()
        return self._made[key]

    def _process(self, process: stack.Process) -> stack.Process:
        self.exits.callback(process.stop)
        return process

    def fixture(self, transport: str) -> str:
        def make() -> str:
            process, url = stack.start_fixture(transport, self.workdir)
            self._process(process)
            return url

        return str(self._once(f"fixture-{transport}", make))

    def gateway(self, workers: int) -> stack.Gateway:
        def make() -> stack.Gateway:
            env = {"LEDGERGATE_REDIS_URL": REDIS_URL} if workers > 1 else {}
            gateway = stack.start_gateway(self.workdir, f"gateway-{workers}w", workers, env)
            self._process(gateway.process)
            return gateway

        made = self._once(f"gateway-{workers}", make)
        assert isinstance(made, stack.Gateway)
        return made

    def published(self, transport: str, workers: int = 1) -> stack.Published:
        def make() -> stack.Published:
            if transport == "stdio":
                upstream = {"transport": "stdio", **stack.fixture_stdio_command()}
            else:
                wire = "streamable_http" if transport == "http" else "sse"
                upstream = {"transport": wire, "url": self.fixture(transport)}
            return stack.publish(self.gateway(workers), f"conformance-{transport}", upstream)

        made = self._once(f"published-{transport}-{workers}", make)
        assert isinstance(made, stack.Published)
        return made

    def through_proxy(self, workers: int, token: str, path: str) -> str:
        base = self.exits.enter_context(bearer_proxy(self.gateway(workers).url, token, fresh_connections=workers > 1))
        return base + path

    def url(self, row: str) -> str:
        """The MCP URL the suite is pointed at for ``row``."""
        if row == "fixture":
            return self.fixture("http")
        if row == "bridges":
            published = self.published("http")
            target = f"{self.gateway(1).url}/servers/{published.server_id}/mcp"
            process, url = stack.start_bridges(target, published.token, self.workdir)
            self._process(process)
            return url
        transport = {"server": "http", "tenant": "http", "workers": "http"}.get(row, row)
        workers = 2 if row == "workers" else 1
        published = self.published(transport, workers)
        path = "/mcp" if row == "tenant" else f"/servers/{published.server_id}/mcp"
        return self.through_proxy(workers, published.token, path)


def run_rows(rows: list[str], configs: list[suite.Config], tools: toolchain.Toolchain, out: Path, console: Console):
    results: dict[str, dict[str, dict[str, object]]] = {}
    with tempfile.TemporaryDirectory(prefix="ledgergate-conformance-") as tmp, ExitStack() as exits:
        processes = Stack(Path(tmp), exits)
        for row in rows:
            results[row] = {}
            try:
                url = processes.url(row)
            except Exception as exc:  # a row that cannot start fails every configuration, the others still run
                console.print(f"[red]{row}: could not start: {exc}")
                for config in configs:
                    results[row][config.label] = {"passed": 0, "total": None, "error": str(exc)}
                continue
            for config in configs:
                console.print(f"{ROWS[row]} · {config.label} ...", end=" ")
                outcome = suite.run(tools, config, url, out / row / config.label.replace(" ", "_"))
                results[row][config.label] = outcome.to_json()
                console.print(f"{len(outcome.passed)}/{outcome.total} ({outcome.seconds:.0f} s)")
    return results


def _cell(result: dict[str, object]) -> str:
    if result.get("total") is None:
        return "did not start"
    return f"{result['passed']}/{result['total']}"


def render(results: dict[str, dict[str, dict[str, object]]], configs: list[suite.Config], console: Console) -> str:
    table = Table(title="MCP conformance: scored scenarios passed")
    table.add_column("row")
    for config in configs:
        table.add_column(config.label, justify="right")
    markdown = ["| row | " + " | ".join(c.label for c in configs) + " |", "|---" * (len(configs) + 1) + "|"]
    for row, by_config in results.items():
        cells = [_cell(by_config[c.label]) for c in configs]
        table.add_row(ROWS[row], *cells)
        markdown.append(f"| {ROWS[row]} | " + " | ".join(cells) + " |")
    console.print(table)
    for row, by_config in results.items():
        for label, result in by_config.items():
            if result.get("error"):
                console.print(f"[red]{ROWS[row]} · {label}: did not start: {result['error']}")
            failed = result.get("failed") or {}
            assert isinstance(failed, dict)
            for scenario, checks in failed.items():
                console.print(f"[red]✗[/red] {ROWS[row]} · {label} · [bold]{scenario}[/bold]")
                for check in checks[:4]:
                    console.print(f"    {check[:300]}", markup=False, highlight=False)
    return "\n".join(markdown) + "\n"


def _keys(value: str, known: dict[str, object], what: str) -> list[str]:
    keys = [k.strip() for k in value.split(",") if k.strip()] if value else list(known)
    unknown = [k for k in keys if k not in known]
    if unknown:
        raise SystemExit(f"unknown {what}: {', '.join(unknown)} (known: {', '.join(known)})")
    return keys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="conformance", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="", help="comma-separated: " + ", ".join(ROWS))
    parser.add_argument("--configs", default="", help=", ".join(CONFIG_KEYS))
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    rows = _keys(args.rows, dict(ROWS), "rows")
    configs = [CONFIG_KEYS[k] for k in _keys(args.configs, dict(CONFIG_KEYS), "configurations")]
    console = Console(width=max(Console().width, 140))
    try:
        tools = toolchain.install()
    except toolchain.ToolchainError as exc:
        console.print(f"[red]conformance: {exc}")
        return 2
    started = datetime.now(UTC)
    out = RESULTS / started.strftime("%Y%m%dT%H%M%SZ")
    results = run_rows(rows, configs, tools, out, console)
    markdown = render(results, configs, console)
    document = {
        "date": started.isoformat(timespec="seconds"),
        "suites": {c.label: {"package": f"@modelcontextprotocol/conformance@{c.version}"} for c in configs},
        "node": toolchain.NODE,
        "rows": {row: {"label": ROWS[row], **by_config} for row, by_config in results.items()},
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "table.md").write_text(markdown)
    for path in [out / "results.json", *([args.json] if args.json else [])]:
        path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    console.print(f"results: {out / 'results.json'}")
    complete = all(
        r.get("total") is not None and r["passed"] == r["total"] for c in results.values() for r in c.values()
    )
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
