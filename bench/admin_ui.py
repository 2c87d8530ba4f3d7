"""Admin UI benchmark: server time to render the tool list of a 10,000-tool tenant and the page of a
tool with 1,000 versions, and the JS + CSS a page loads.

The app runs in process on SQLite (a temporary directory); pages are fetched through Litestar's test
client, so the times are the server's (routing, queries, templates), without a network.

    .venv/bin/python bench/admin_ui.py            # 10,000 tools, 1,000 versions: about a minute
    .venv/bin/python bench/admin_ui.py --quick    # 1,000 tools, 200 versions

Prints medians and p95s and writes every sample to ``bench/results/admin-ui-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from litestar.testing import TestClient

from ledgergate.api.app import create_app
from ledgergate.api.bootstrap import first_start
from ledgergate.api.runtime import build_runtime
from ledgergate.api.schemas import ToolCreate, to_fields
from ledgergate.api.ui.router import STATIC
from ledgergate.domain.envelope import Envelope
from ledgergate.infrastructure.settings import load_settings

RESULTS_DIR = Path(__file__).resolve().parent / "results"
ACTOR = Envelope("default", "default:bench", "bench", "bench")
NO_UPSTREAM = "00000000-0000-0000-0000-000000000000"
ASSET = re.compile(r'(?:src|href)="/admin/static/([^"]+)"')
ASSET_PAGES = (
    "/admin/t/default/tools",
    "/admin/t/default/tools/new",
    "/admin/t/default/prompts/new",
    "/admin/t/default/resources/new",
    "/admin/t/default/upstreams/new",
)


def tool(n: int) -> dict[str, Any]:
    body = ToolCreate(
        name=f"tool-{n:05d}",
        description=f"benchmark tool {n}",
        input_schema={"type": "object", "properties": {"q": {"type": "string"}}},
        integration={"method": "GET", "url": "https://api.example.com/{q}"},  # type: ignore[arg-type]
        tags=["even" if n % 2 == 0 else "odd"],
    )
    return to_fields(body)


def timed(client: TestClient[Any], path: str, rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        answer = client.get(path)
        samples.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200, answer.text[:300]
    return samples


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50_ms": statistics.median(ordered), "p95_ms": ordered[int(len(ordered) * 0.95) - 1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    tools, versions, rounds = (1_000, 200, 30) if args.quick else (10_000, 1_000, 50)
    os.environ["LEDGERGATE_DATA_DIR"] = tempfile.mkdtemp(prefix="lg-bench-ui-")
    os.environ.setdefault("LEDGERGATE_ACCESS_LOG", "false")  # a line per request would be most of the output
    settings = load_settings()
    runtime = build_runtime(settings)
    token = first_start(runtime).token
    registry = runtime.registry
    started = time.perf_counter()
    for n in range(tools):
        written = registry.create_entity(ACTOR, "tool", tool(n))
    target = registry.create_entity(ACTOR, "tool", tool(tools))
    for v in range(versions - 1):
        written = registry.update_entity(ACTOR, "tool", target.id, {"description": f"version {v + 2}"})
    runtime.queries.wait_for(written.position)
    print(f"wrote {tools + 1} tools and {versions} versions in {time.perf_counter() - started:.1f} s", flush=True)
    results: dict[str, Any] = {"tools": tools, "versions": versions, "rounds": rounds}
    try:
        with TestClient(create_app(settings, runtime=runtime)) as client:
            client.post("/admin/login", data={"token": token})
            pages = {
                "tool list, first page": "/admin/t/default/tools",
                "tool list, name prefix": "/admin/t/default/tools?q=tool-09",
                "tool list, tag filter": "/admin/t/default/tools?tag=odd&enabled=true",
                # no tool came from it: the filter reads every tool of the tenant (its worst case)
                "tool list, upstream filter": f"/admin/t/default/tools?upstream={NO_UPSTREAM}",
                f"tool page with {versions} versions": f"/admin/t/default/tools/{target.id}",
            }
            for label, path in pages.items():
                timed(client, path, 3)  # warm up
                samples = timed(client, path, rounds)
                results[label] = {**summary(samples), "samples_ms": samples}
                print(f"{label:32} p50 {results[label]['p50_ms']:7.1f} ms   p95 {results[label]['p95_ms']:7.1f} ms")
            # the page that loads the most: the list, or a form (the tool form adds the schema editor)
            loads = {}
            for path in ASSET_PAGES:
                assets = sorted(set(ASSET.findall(client.get(path).text)))
                loads[path] = (sum((STATIC / name).stat().st_size for name in assets), assets)
            heaviest = max(loads, key=lambda path: loads[path][0])
            size, assets = loads[heaviest]
            results["assets"] = {"page": heaviest, "files": assets, "bytes": size}
            print(
                f"JS + CSS a page loads, at most: {size / 1024:.1f} KiB uncompressed ({heaviest}: {', '.join(assets)})"
            )
    finally:
        runtime.close()
    RESULTS_DIR.mkdir(exist_ok=True)
    out = RESULTS_DIR / f"admin-ui-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(results, indent=2))
    print(f"samples: {out}")


if __name__ == "__main__":
    main()
