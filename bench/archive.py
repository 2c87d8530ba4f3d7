"""Archive benchmark on PostgreSQL: export, verify and import rates, flat memory, point-in-time catalog.

A fresh schema under the database of ``--postgres-url`` is filled with ``--events`` realistic tool
events (registration, name claim, update) of a few tenants, appended in bulk through the library's
recorder; one tenant has ``--catalog-tools`` tools spread over the whole log. Then, in rounds:

- export of the whole log to a file, verify of the file, and import into an empty schema, each in a
  child process (rates in events/s, peak RSS from ``resource.getrusage`` in the child);
- export and import of the first ``--small`` events too, so peak RSS at two sizes shows whether
  memory stays flat;
- the point-in-time catalog of the big tenant, at the head and at the time of the middle event.

    .venv/bin/python bench/archive.py                    # 1,000,000 events, about 10 minutes
    .venv/bin/python bench/archive.py --events 50000     # a quick run

Every schema is dropped at the end. Prints a table of medians and writes every sample to
``bench/results/archive-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import msgspec
import psycopg
from eventsourcing.persistence import StoredEvent

RESULTS_DIR = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parent.parent
EXPORT_TARGET, IMPORT_TARGET, CATALOG_TARGET_S = 20_000, 10_000, 2.0
APPEND_BATCH = 5_000
TOOL = {
    "name": "template",
    "description": "Looks a customer up by id",
    "input_schema": {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]},
    "integration": {"method": "GET", "url": "https://api.example.com/customers/{id}", "headers": {"X-Key": "k"}},
}


def say(message: str) -> None:
    print(message, flush=True)


@dataclass(frozen=True)
class Config:
    events: int
    small: int
    tenants: int
    catalog_tools: int
    rounds: int
    postgres_url: str


def parse_args(argv: list[str] | None = None) -> tuple[Config, argparse.Namespace]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000, help="events in the log (1000000)")
    parser.add_argument("--small", type=int, default=100_000, help="the smaller size for peak RSS (100000)")
    parser.add_argument("--tenants", type=int, default=4, help="tenants, the big one included (4)")
    parser.add_argument("--catalog-tools", type=int, default=10_000, help="tools of the big tenant (10000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each measurement; medians shown (3)")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("LEDGERGATE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    parser.add_argument("--child", choices=["export", "verify", "import"], help=argparse.SUPPRESS)
    parser.add_argument("--env", help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    parser.add_argument("--until", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.events < 1_000 or args.catalog_tools * 3 > args.events:
        parser.error("--events must be at least 1000 and hold 3 events per tool of the big tenant")
    config = Config(
        events=args.events,
        small=min(args.small, max(1, args.events // 10)),  # a tenth at most: a size well below the full one
        tenants=max(2, args.tenants),
        catalog_tools=args.catalog_tools,
        rounds=max(1, args.rounds),
        postgres_url=args.postgres_url,
    )
    return config, args


# -- stores ----------------------------------------------------------------------------------------


def settings_for(env: dict[str, str]) -> Any:
    from ledgergate.infrastructure.settings import load_settings

    return load_settings(env, env_file=Path(env["LEDGERGATE_DATA_DIR"]) / "none.env")


@contextmanager
def schema(url: str, data_dir: Path) -> Iterator[dict[str, str]]:
    """A new schema (dropped afterwards) and the environment of an instance on it."""
    from tests.conftest import postgres_conninfo

    name = f"lg_bench_{secrets.token_hex(4)}"
    with psycopg.connect(postgres_conninfo(url.split("?")[0]), autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
        try:
            yield {"LEDGERGATE_DATA_DIR": str(data_dir), "LEDGERGATE_DATABASE_URL": f"{url}?schema={name}"}
        finally:
            conn.execute(f'DROP SCHEMA "{name}" CASCADE')


# -- filling the log -------------------------------------------------------------------------------


def templates(runtime: Any, tenants: list[str]) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """Per tenant, the stored events of one real tool registration and update: (topic, state)."""
    from ledgergate.application.registry import PLATFORM_TENANT
    from ledgergate.domain.envelope import Envelope

    found: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for tenant in tenants:
        runtime.registry.create_tenant(Envelope(PLATFORM_TENANT, "bench", "c", "c"), {"name": tenant})
        head = runtime.registry.recorder.max_notification_id()
        who = Envelope(tenant, "bench", "c", "c")
        tool = runtime.registry.create_entity(who, "tool", TOOL)
        runtime.registry.update_entity(who, "tool", tool.id, {"description": "Looks a customer up"})
        rows = runtime.registry.recorder.select_notifications(start=head, limit=10, inclusive_of_start=False)
        found[tenant] = [(n.topic, msgspec.json.decode(n.state)) for n in rows]
    return found


def fill(runtime: Any, config: Config) -> dict[str, Any]:
    """Append ``config.events`` events in bulk through the recorder; the big tenant's tools spread evenly."""
    tenants = ["big", *(f"t{i}" for i in range(1, config.tenants))]
    shapes = templates(runtime, tenants)
    recorder = runtime.registry.recorder
    tools = (config.events - int(recorder.max_notification_id())) // 3
    every = max(1, tools // config.catalog_tools)
    stamp = datetime.now(UTC) + timedelta(seconds=1)
    batch: list[StoredEvent] = []
    big = 0
    started = time.perf_counter()
    for number in range(tools):
        if number % every == 0 and big < config.catalog_tools:
            tenant, big = "big", big + 1
        else:
            tenant = tenants[1 + number % (len(tenants) - 1)]
        tool_id, claim_id = uuid4(), uuid4()
        for (topic, state), (stream, version) in zip(
            shapes[tenant], ((tool_id, 1), (claim_id, 1), (tool_id, 2)), strict=True
        ):
            stamp += timedelta(microseconds=10)
            state = {**state, "timestamp": {"_type_": "datetime_iso", "_data_": stamp.isoformat()}}
            if "fields" in state:
                state["fields"] = {**state["fields"], "name": f"tool_{number}"}
            if "owner_id" in state:
                state = {**state, "name": f"tool_{number}", "owner_id": str(tool_id)}
            batch.append(StoredEvent(stream, version, topic, msgspec.json.encode(state)))
        if len(batch) >= APPEND_BATCH:
            recorder.insert_events(batch)
            batch = []
    if batch:
        recorder.insert_events(batch)
    seconds = time.perf_counter() - started
    head = int(recorder.max_notification_id())
    return {"events": head, "append_events_per_s": tools * 3 / seconds, "big_tools": big, "tenants": tenants}


# -- child processes -------------------------------------------------------------------------------


def child(args: argparse.Namespace) -> None:
    """One operation in this process; prints events, seconds and peak RSS as JSON."""
    from ledgergate.api.runtime import build_runtime
    from ledgergate.application.archive_service import ArchiveService
    from ledgergate.application.event_archive import verify_lines
    from ledgergate.infrastructure.stored_records import StoreEventLog

    env = json.loads(args.env) if args.env else {}
    started = 0.0
    if args.child == "verify":
        started = time.perf_counter()
        with open(args.file, "rb") as handle:
            _, events = verify_lines(handle)
    else:
        runtime = build_runtime(settings_for(env), follow=False)
        service = ArchiveService(StoreEventLog(runtime.registry), "bench")
        try:
            started = time.perf_counter()
            if args.child == "export":
                events = -2
                with open(args.file, "wb") as out:
                    for line in service.export(until=args.until):
                        out.write(line)
                        events += 1
            else:
                with open(args.file, "rb") as handle:
                    events = service.import_lines(handle)["imported"]
        finally:
            runtime.close()
    seconds = time.perf_counter() - started
    print(json.dumps({"events": events, "seconds": seconds, "peak_rss_mb": peak_rss_mb()}))


def peak_rss_mb() -> float:
    """This process's peak resident memory. Linux's ``ru_maxrss`` keeps the parent's peak across fork and
    exec, so the kernel's per-process high-water mark (VmHWM) is preferred where it exists."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(
    operation: str, file: Path, env: dict[str, str] | None = None, until: int | None = None
) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", operation, "--file", str(file), "--env", json.dumps(env or {})]
    if until is not None:
        command += ["--until", str(until)]
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT, timeout=3_600)
    if done.returncode != 0:
        raise RuntimeError(f"{operation} child failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["events_per_s"] = result["events"] / result["seconds"]
    return result


# -- the run ---------------------------------------------------------------------------------------


def catalog_times(runtime: Any, config: Config) -> dict[str, list[float]]:
    from ledgergate.application.audit import AuditService, Point
    from ledgergate.infrastructure.eventstore import log_reader
    from ledgergate.projections.point_in_time import catalog_at

    reader = log_reader(runtime.registry)
    audit = AuditService(reader, catalog_at)
    head = int(runtime.registry.recorder.max_notification_id())
    middle = reader(head // 2, 1)[0][1].timestamp
    samples: dict[str, list[float]] = {"head": [], "middle_time": []}
    for _ in range(config.rounds):
        for name, point in (("head", Point(position=head)), ("middle_time", Point(time=middle))):
            started = time.perf_counter()
            catalog = audit.catalog("big", point)
            samples[name].append(time.perf_counter() - started)
            if name == "head" and len(catalog["tools"]) != config.catalog_tools + 1:
                raise AssertionError(f"the big tenant shows {len(catalog['tools'])} tools")
    return samples


def run(config: Config, workdir: Path) -> dict[str, Any]:
    from ledgergate.api.runtime import build_runtime

    results: dict[str, Any] = {"rounds": []}
    with schema(config.postgres_url, workdir / "source") as env:
        runtime = build_runtime(settings_for(env), follow=False)
        try:
            say(f"filling the log with {config.events:,} events ...")
            results["fill"] = fill(runtime, config)
            say(f"  {results['fill']['events']:,} events at {results['fill']['append_events_per_s']:,.0f} ev/s")
            small_until = runtime.registry.recorder.select_notifications(start=config.small, limit=1)[0].id
            say("point-in-time catalogs of the big tenant ...")
            results["catalog_s"] = catalog_times(runtime, config)
        finally:
            runtime.close()
        full_file, small_file = workdir / "full.jsonl", workdir / "small.jsonl"
        for number in range(config.rounds):
            say(f"round {number + 1}/{config.rounds}: export, verify, import ...")
            sample = {"export": run_child("export", full_file, env), "verify": run_child("verify", full_file)}
            with schema(config.postgres_url, workdir / f"target{number}") as target:
                sample["import"] = run_child("import", full_file, target)
            results["rounds"].append(sample)
        say(f"peak RSS at {config.small:,} events ...")
        results["small"] = {"export": run_child("export", small_file, env, until=small_until)}
        with schema(config.postgres_url, workdir / "target-small") as target:
            results["small"]["import"] = run_child("import", small_file, target)
        results["file_mb"] = full_file.stat().st_size / 1e6
    return results


def median(values: list[float]) -> float:
    return statistics.median(values)


def report(config: Config, results: dict[str, Any]) -> None:
    rounds = results["rounds"]
    rate = {op: median([r[op]["events_per_s"] for r in rounds]) for op in ("export", "verify", "import")}
    rss = {op: median([r[op]["peak_rss_mb"] for r in rounds]) for op in ("export", "import")}
    small = results["small"]
    events = results["fill"]["events"]
    catalog = {name: median(values) for name, values in results["catalog_s"].items()}
    say("")
    say(f"Archive on PostgreSQL, {events:,} events ({results['file_mb']:,.0f} MB file), medians of {config.rounds}")
    say(f"{'measure':52} {'value':>10}  target")
    rows = [
        ("bulk append through the recorder (ev/s)", f"{results['fill']['append_events_per_s']:,.0f}", ""),
        ("export (ev/s)", f"{rate['export']:,.0f}", f">= {EXPORT_TARGET:,}"),
        ("verify (ev/s)", f"{rate['verify']:,.0f}", ""),
        ("import into an empty schema, one transaction (ev/s)", f"{rate['import']:,.0f}", f">= {IMPORT_TARGET:,}"),
        (f"export peak RSS at {small['export']['events']:,} events (MB)", f"{small['export']['peak_rss_mb']:,.1f}", ""),
        (f"export peak RSS at {events:,} events (MB)", f"{rss['export']:,.1f}", "flat"),
        (f"import peak RSS at {small['import']['events']:,} events (MB)", f"{small['import']['peak_rss_mb']:,.1f}", ""),
        (f"import peak RSS at {events:,} events (MB)", f"{rss['import']:,.1f}", "flat"),
        (
            f"catalog of {config.catalog_tools:,} tools at the head (s)",
            f"{catalog['head']:.2f}",
            f"<= {CATALOG_TARGET_S}",
        ),
        (
            f"catalog of {config.catalog_tools:,} tools at a time (s)",
            f"{catalog['middle_time']:.2f}",
            f"<= {CATALOG_TARGET_S}",
        ),
    ]
    for name, value, target in rows:
        say(f"{name:52} {value:>10}  {target}")


def main(argv: list[str] | None = None) -> int:
    config, args = parse_args(argv)
    if args.child:
        child(args)
        return 0
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory(prefix="lg-bench-archive-") as tmp:
        results = run(config, Path(tmp))
    report(config, results)
    RESULTS_DIR.mkdir(exist_ok=True)
    out = RESULTS_DIR / f"archive-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    meta = {"machine": platform.platform(), "python": platform.python_version(), "config": vars(config)}
    meta["config"] = {k: v for k, v in meta["config"].items() if k != "postgres_url"}
    out.write_text(json.dumps({**meta, **results}, indent=2))
    say(f"\nevery sample: {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
