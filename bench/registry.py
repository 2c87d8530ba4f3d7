"""Registry benchmark: append throughput, write-to-visible projection lag, full catalog rebuild rate.

Runs on SQLite (a temporary directory) and on PostgreSQL (a fresh schema under the database of
``--postgres-url``, dropped at the end; skipped with a message if PostgreSQL is unreachable).

    .venv/bin/python bench/registry.py            # defaults, about 2-3 minutes
    .venv/bin/python bench/registry.py --quick    # small sizes, under 30 s

Prints a table of medians and writes every sample to ``bench/results/registry-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import platform
import secrets
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import redis

from ledgergate.api.runtime import Runtime, build_runtime
from ledgergate.application.errors import NotFoundError
from ledgergate.application.registry import Written
from ledgergate.domain.envelope import Envelope
from ledgergate.infrastructure.settings import DatabaseUrl, Settings, load_settings

RESULTS_DIR = Path(__file__).resolve().parent / "results"
PLATFORM = Envelope("_platform", "bench", "c", "c")
IPC_TIMEOUT_S = 60.0  # the writer process starting (spawn + imports + runtime), or one command
VISIBLE_TIMEOUT_S = 10.0  # one write becoming visible; a sample that takes longer counts as lost
CATCH_UP_TIMEOUT_S = 120.0  # a new follower reaching the head of the log
WARM_UP_COMMANDS = 20  # untimed creates and updates before the first round (caches, prepared statements)
T = TypeVar("T")


def say(message: str) -> None:
    print(message, flush=True)


# -- configuration ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    commands: int  # per round and per command kind (create, then update), split across the threads
    rounds: int
    threads: tuple[int, ...]
    lag_samples: int
    lag_big_samples: int
    lag_tools: int
    load_commands: int
    rebuild_events: int
    rebuild_rounds: int
    phase_seconds: float  # cap of one timed loop (creates or updates of a round, a lag series); 2x to fill the log
    postgres_url: str
    redis_url: str
    backends: tuple[str, ...]


def parse_args(argv: list[str] | None = None) -> Config:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commands", type=int, default=500, help="commands per round and kind (500)")
    parser.add_argument("--rounds", type=int, default=3, help="append rounds; the table shows the median (3)")
    parser.add_argument("--threads", default="1,4", help="writer thread counts, comma-separated (1,4)")
    parser.add_argument("--lag-samples", type=int, default=300, help="commands per lag series (300)")
    parser.add_argument("--lag-big-samples", type=int, default=40, help="lag commands in the big tenant (40)")
    parser.add_argument("--lag-tools", type=int, default=20, help="tools in the small lag tenant (20)")
    parser.add_argument("--load-commands", type=int, default=200, help="lag creates from concurrent writers (200)")
    parser.add_argument("--rebuild-events", type=int, default=20_000, help="least events in the log (20000)")
    parser.add_argument("--rebuild-rounds", type=int, default=3, help="full rebuilds; median shown (3)")
    parser.add_argument("--phase-seconds", type=float, default=30.0, help="time cap of one measurement (30)")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("LEDGERGATE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    parser.add_argument("--redis-url", default=os.environ.get("LEDGERGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--backends", default="sqlite,postgres", help="which stores to run (sqlite,postgres)")
    parser.add_argument("--quick", action="store_true", help="small sizes: the whole run in under 30 s")
    args = parser.parse_args(argv)
    unknown = set(args.backends.split(",")) - {"sqlite", "postgres"}
    if unknown:
        parser.error(f"--backends: unknown {', '.join(sorted(unknown))} (sqlite, postgres)")
    if args.quick:
        args.commands, args.rounds, args.lag_samples, args.lag_big_samples, args.load_commands = 60, 1, 30, 10, 40
        args.rebuild_events, args.rebuild_rounds, args.phase_seconds = 1_000, 1, 6.0
    return Config(
        commands=args.commands,
        rounds=args.rounds,
        threads=tuple(int(n) for n in args.threads.split(",")),
        lag_samples=args.lag_samples,
        lag_big_samples=args.lag_big_samples,
        lag_tools=args.lag_tools,
        load_commands=args.load_commands,
        rebuild_events=args.rebuild_events,
        rebuild_rounds=args.rebuild_rounds,
        phase_seconds=args.phase_seconds,
        postgres_url=args.postgres_url,
        redis_url=args.redis_url,
        backends=tuple(args.backends.split(",")),
    )


# -- stores ----------------------------------------------------------------------------------------


@dataclass
class Backend:
    name: str
    env: dict[str, str]  # the LEDGERGATE_* variables every runtime of this run is built from
    data_dir: Path

    def settings(self, **extra: str) -> Settings:
        return load_settings({**self.env, **extra}, env_file=self.data_dir / "none.env")


def sqlite_backend(workdir: Path) -> Backend:
    env = {"LEDGERGATE_DATA_DIR": str(workdir / "data"), "LEDGERGATE_DATABASE_URL": f"sqlite:///{workdir / 'lg.db'}"}
    return Backend("sqlite", env, workdir / "data")


@contextmanager
def postgres_backend(workdir: Path, url: str) -> Iterator[Backend | None]:
    """A fresh schema for this run, dropped at the end; None if PostgreSQL is unreachable."""
    try:
        conn = psycopg.connect(DatabaseUrl.parse(url).conninfo(), autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        say(f"PostgreSQL at {url} is unreachable ({exc}); skipping its measurements.")
        yield None
        return
    schema = f"lg_bench_{secrets.token_hex(4)}"
    with conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
        try:
            env = {"LEDGERGATE_DATA_DIR": str(workdir / "data"), "LEDGERGATE_DATABASE_URL": f"{url}?schema={schema}"}
            yield Backend("postgres", env, workdir / "data")
        finally:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def redis_reachable(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=2).ping())
    except redis.RedisError:
        return False


@contextmanager
def running(backend: Backend, *, follow: bool, **extra: str) -> Iterator[Runtime]:
    runtime = build_runtime(backend.settings(**extra), follow=follow)
    try:
        yield runtime
    finally:
        runtime.close()


# -- commands and statistics -----------------------------------------------------------------------


def tool_fields(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}},
        "integration": {"method": "GET", "url": "https://api.example.com/items/{q}"},
    }


def ensure_tenant(runtime: Runtime, tenant: str) -> Envelope:
    """The envelope of commands in ``tenant``, creating the tenant the first time."""
    try:
        runtime.registry.require_tenant(tenant)
    except NotFoundError:
        runtime.registry.create_tenant(PLATFORM, {"name": tenant})
    return Envelope(tenant, "bench", "c", "c")


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def summary_ms(seconds: list[float]) -> dict[str, float]:
    if not seconds:
        return {"n": 0}
    ms = [s * 1000 for s in seconds]
    return {"n": len(ms), "p50": percentile(ms, 50), "p99": percentile(ms, 99), "max": max(ms)}


# -- 1. append throughput --------------------------------------------------------------------------


def run_threads(threads: int, work: Callable[[int], T]) -> tuple[float, list[T]]:
    """Run ``work(thread_index)`` in ``threads`` threads at once; (wall seconds, each thread's result)."""
    results: list[Any] = [None] * threads
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads + 1)

    def body(index: int) -> None:
        barrier.wait()
        try:
            results[index] = work(index)
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=body, args=(i,), daemon=True) for i in range(threads)]
    for worker in workers:
        worker.start()
    barrier.wait()
    started = time.perf_counter()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return elapsed, results


def timed_commands(count: int, deadline: float, command: Callable[[int], Any]) -> list[float]:
    """Issue ``command(i)`` for i < count until the deadline; the latency of each."""
    latencies = []
    for i in range(count):
        if time.perf_counter() > deadline:
            break
        started = time.perf_counter()
        command(i)
        latencies.append(time.perf_counter() - started)
    return latencies


def append_round(runtime: Runtime, envelope: Envelope, threads: int, commands: int, tag: str, cap_s: float) -> dict:
    """N creates then N updates of the created tools, split across ``threads``; rates of each."""
    registry = runtime.registry
    per_thread = max(1, commands // threads)
    ids: list[list[str]] = [[] for _ in range(threads)]

    def create(index: int) -> list[float]:
        def one(i: int) -> None:
            ids[index].append(registry.create_entity(envelope, "tool", tool_fields(f"{tag}_{index}_{i}")).id)

        return timed_commands(per_thread, time.perf_counter() + cap_s, one)

    def update(index: int) -> list[float]:
        def one(i: int) -> None:
            registry.update_entity(envelope, "tool", ids[index][i], {"description": f"changed {i}"})

        return timed_commands(len(ids[index]), time.perf_counter() + cap_s, one)

    result = {}
    for kind, work in (("create", create), ("update", update)):
        head = registry.recorder.max_notification_id() or 0
        elapsed, per_thread_latencies = run_threads(threads, work)
        latencies = [latency for part in per_thread_latencies for latency in part]
        events = (registry.recorder.max_notification_id() or 0) - head
        result[kind] = {
            "commands": len(latencies),
            "events": events,
            "seconds": elapsed,
            "commands_per_s": len(latencies) / elapsed,
            "events_per_s": events / elapsed,
            "latency_ms": summary_ms(latencies),
        }
    return result


def bench_append(backend: Backend, config: Config) -> dict:
    """Part 1, with follow=False: no projection competes with the writers."""
    results: dict[str, Any] = {}
    with running(backend, follow=False) as runtime:
        envelope = ensure_tenant(runtime, "bench")
        append_round(runtime, envelope, 1, WARM_UP_COMMANDS, "warm", config.phase_seconds)
        for threads in config.threads:
            rounds = [
                append_round(runtime, envelope, threads, config.commands, f"t{threads}r{r}", config.phase_seconds)
                for r in range(config.rounds)
            ]
            results[f"threads={threads}"] = {"threads": threads, "rounds": rounds}
            for kind in ("create", "update"):
                rates = [r[kind]["commands_per_s"] for r in rounds]
                say(f"  {backend.name} {kind} x{threads} threads: {statistics.median(rates):,.0f} commands/s")
    return results


# -- 2. write-to-visible lag -----------------------------------------------------------------------


@dataclass
class Series:
    """Per command: how long it took and how long until it was visible (None: not in time), or how it failed."""

    commands: list[float] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)
    lost: int = 0
    failures: dict[str, int] = field(default_factory=dict)

    def add(self, command_s: float, lag_s: float | None) -> None:
        self.commands.append(command_s)
        if lag_s is None:
            self.lost += 1
        else:
            self.lags.append(lag_s)

    def merge(self, other: Series) -> None:
        self.commands += other.commands
        self.lags += other.lags
        self.lost += other.lost
        for name, count in other.failures.items():
            self.failures[name] = self.failures.get(name, 0) + count

    def summary(self, **extra: Any) -> dict:
        return {
            "lag_ms": summary_ms(self.lags),
            "command_ms": summary_ms(self.commands),
            "lost": self.lost,
            "failures": self.failures,
            **extra,
        }


def until_visible(runtime: Runtime, series: Series, command: Callable[[], Written]) -> Written | None:
    """Run ``command``; record its time and the time from just before it until this process's board shows it.

    A command that raises is counted under its exception's name (None is returned): the series goes on.
    """
    started = time.monotonic()
    try:
        written = command()
    except Exception as exc:
        name = type(exc).__name__
        series.failures[name] = series.failures.get(name, 0) + 1
        return None
    issued = time.monotonic() - started
    visible = runtime.board.wait_for(written.position, VISIBLE_TIMEOUT_S)
    series.add(issued, time.monotonic() - started if visible else None)
    return written


def create_tools(runtime: Runtime, envelope: Envelope, count: int, tag: str) -> list[str]:
    return [runtime.registry.create_entity(envelope, "tool", tool_fields(f"{tag}_{i}")).id for i in range(count)]


def wait_caught_up(runtime: Runtime) -> None:
    head = runtime.registry.recorder.max_notification_id() or 0
    if not runtime.board.wait_for(head, CATCH_UP_TIMEOUT_S):
        raise RuntimeError(f"the follower did not reach the head of the log ({head}) in {CATCH_UP_TIMEOUT_S} s")


def lag_same_process(runtime: Runtime, envelope: Envelope, tool_id: str, samples: int, cap_s: float) -> Series:
    """One update at a time, each waited for before the next."""
    series = Series()
    deadline = time.monotonic() + cap_s
    for i in range(samples):
        if time.monotonic() > deadline:
            break
        until_visible(
            runtime,
            series,
            lambda i=i: runtime.registry.update_entity(envelope, "tool", tool_id, {"description": f"lag {i}"}),
        )
    return series


def missing_rows(runtime: Runtime, tenant: str, ids: list[str]) -> dict[str, int]:
    """How many of ``ids`` the durable view and the hot catalog lack (both should hold every one)."""
    with runtime.connector.read() as cur:
        in_view = {row[0] for row in cur.execute("SELECT id FROM catalog_items WHERE tenant_id = ?", (tenant,))}
    snapshot = runtime.hot.get(tenant) if runtime.hot is not None else None
    in_hot = {row["id"] for row in snapshot.tools.values()} if snapshot is not None else set()
    return {"missing_in_view": len(set(ids) - in_view), "missing_in_hot": len(set(ids) - in_hot)}


def lag_under_load(runtime: Runtime, envelope: Envelope, threads: int, commands: int, cap_s: float) -> dict:
    """Creates from ``threads`` threads at once, each waited for; then check the projection kept every tool."""
    deadline = time.monotonic() + cap_s
    ids: list[str] = []

    def work(index: int) -> Series:
        series = Series()
        for i in range(max(1, commands // threads)):
            if time.monotonic() > deadline:
                break
            fields = tool_fields(f"load_{index}_{i}")
            written = until_visible(
                runtime, series, lambda fields=fields: runtime.registry.create_entity(envelope, "tool", fields)
            )
            if written is not None:
                ids.append(written.id)
        return series

    _, per_thread = run_threads(threads, work)
    series = Series()
    for part in per_thread:
        series.merge(part)
    wait_caught_up(runtime)
    return series.summary(threads=threads, tenant_tools=len(ids), **missing_rows(runtime, envelope.tenant_id, ids))


def cross_process_writer(env: dict[str, str], data_dir: str, tool_id: str, conn: Connection) -> None:
    """The second process: its own runtime (follow=False); one update per "go", reporting its clock readings.

    time.monotonic() is CLOCK_MONOTONIC, one clock for every process of a Linux machine.
    """
    runtime = build_runtime(load_settings(env, env_file=Path(data_dir) / "none.env"), follow=False)
    envelope = Envelope(env["BENCH_TENANT"], "bench", "c", "c")
    try:
        conn.send("ready")
        while conn.poll(IPC_TIMEOUT_S):
            index = conn.recv()
            if index is None:
                break
            started = time.monotonic()
            written = runtime.registry.update_entity(envelope, "tool", tool_id, {"description": f"cross {index}"})
            conn.send((started, time.monotonic(), written.position))
    finally:
        runtime.close()
        conn.close()


def lag_cross_process(
    runtime: Runtime, env: dict[str, str], data_dir: Path, tool_id: str, samples: int, cap_s: float
) -> tuple[Series, int]:
    """Updates from a spawned process, the follower here; in lockstep, so one command is in flight at a time.

    The lag runs from the writer's clock reading before its command to the moment this process's board
    shows the position. When the projection is visible before the writer's message arrives, the figure
    includes the pipe's delay (an upper bound); the second result counts those samples.
    """
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    writer = context.Process(target=cross_process_writer, args=(env, str(data_dir), tool_id, theirs), daemon=True)
    writer.start()
    series = Series()
    early = 0
    try:
        if not ours.poll(IPC_TIMEOUT_S) or ours.recv() != "ready":
            raise RuntimeError("the writer process did not start")
        deadline = time.monotonic() + cap_s
        for i in range(samples):
            if time.monotonic() > deadline:
                break
            ours.send(i)
            if not ours.poll(IPC_TIMEOUT_S):
                raise RuntimeError("the writer process stopped answering")
            started, finished, position = ours.recv()
            early += runtime.board.current() >= position
            visible = runtime.board.wait_for(position, VISIBLE_TIMEOUT_S)
            series.add(finished - started, time.monotonic() - started if visible else None)
    finally:
        ours.send(None)
        writer.join(IPC_TIMEOUT_S)
        if writer.is_alive():
            writer.kill()
    return series, early


def cross_process_variants(config: Config) -> dict[str, dict[str, str]]:
    variants: dict[str, dict[str, str]] = {"cross_process": {}}
    if redis_reachable(config.redis_url):
        variants["cross_process_redis"] = {"LEDGERGATE_REDIS_URL": config.redis_url}
    else:
        say(f"  Redis at {config.redis_url} is unreachable: no cross-process + Redis series")
    return variants


def bench_lag(backend: Backend, config: Config) -> dict:
    """Part 2, with a follower running. A small tenant for the headline figures, then the big one ("bench",
    every tool of parts 1 and 3), concurrent writers, and (PostgreSQL) a writer in another process."""
    results: dict[str, Any] = {}
    cap = config.phase_seconds
    with running(backend, follow=True) as runtime:
        small = ensure_tenant(runtime, "lag")
        tool_ids = create_tools(runtime, small, config.lag_tools, "lag")
        big = ensure_tenant(runtime, "bench")
        probe = create_tools(runtime, big, 1, "lag_probe")[0]
        wait_caught_up(runtime)
        big_tools = len(runtime.hot.get("bench").tools) if runtime.hot is not None else 0
        series = lag_same_process(runtime, small, tool_ids[0], config.lag_samples, cap)
        results["same_process"] = series.summary(tenant_tools=config.lag_tools)
        series = lag_same_process(runtime, big, probe, config.lag_big_samples, cap)
        results["same_process_big_tenant"] = series.summary(tenant_tools=big_tools)
        load = ensure_tenant(runtime, "load")
        results["concurrent_writers"] = lag_under_load(runtime, load, max(config.threads), config.load_commands, cap)
    if backend.name == "postgres":
        for label, extra in cross_process_variants(config).items():
            with running(backend, follow=True, **extra) as runtime:
                wait_caught_up(runtime)
                env = {**backend.env, **extra, "BENCH_TENANT": "lag"}
                series, early = lag_cross_process(runtime, env, backend.data_dir, tool_ids[1], config.lag_samples, cap)
                results[label] = series.summary(tenant_tools=config.lag_tools, visible_on_arrival=early)
    for label, result in results.items():
        stats = result["lag_ms"]
        say(f"  {backend.name} {label}: lag p50 {stats.get('p50', 0):.1f} ms, p99 {stats.get('p99', 0):.1f} ms")
    return results


# -- 3. full rebuild -------------------------------------------------------------------------------


def top_up(runtime: Runtime, min_events: int, cap_s: float) -> int:
    """Create tools (2 events each, 4 threads) until the log holds ``min_events``; returns the head."""
    registry = runtime.registry
    missing = min_events - (registry.recorder.max_notification_id() or 0)
    if missing > 0:
        envelope = ensure_tenant(runtime, "bench")
        per_thread = math.ceil(missing / 2 / 4)
        deadline = time.perf_counter() + cap_s

        def work(index: int) -> list[float]:
            def one(i: int) -> None:
                registry.create_entity(envelope, "tool", tool_fields(f"fill_{index}_{i}"))

            return timed_commands(per_thread, deadline, one)

        run_threads(4, work)
    return registry.recorder.max_notification_id() or 0


@contextmanager
def counting_source(runtime: Runtime) -> Iterator[list[int]]:
    """Count the events the projector reads (positions may have gaps, so the head is not a count)."""
    projector = runtime.projector
    original = projector.source
    tally = [0]

    def counted(after: int, limit: int) -> Any:
        items = original(after, limit)
        tally[0] += len(items)
        return items

    projector.source = counted
    try:
        yield tally
    finally:
        projector.source = original


def bench_rebuild(backend: Backend, config: Config) -> dict:
    """Part 3: reset the view, then time projector.catch_up() over the whole log."""
    rounds = []
    with running(backend, follow=False) as runtime:
        head = top_up(runtime, config.rebuild_events, 2 * config.phase_seconds)
        for _ in range(config.rebuild_rounds):
            runtime.view.reset(runtime.projector.name)
            with counting_source(runtime) as tally:
                started = time.perf_counter()
                reached = runtime.projector.catch_up()
                elapsed = time.perf_counter() - started
            if reached != head:
                raise RuntimeError(f"the rebuild stopped at {reached}, the log ends at {head}")
            rounds.append({"events": tally[0], "seconds": elapsed, "events_per_s": tally[0] / elapsed})
        rate = statistics.median(r["events_per_s"] for r in rounds)
        say(f"  {backend.name} rebuild of {rounds[0]['events']:,} events: {rate:,.0f} events/s")
        audit = []
        for _ in range(config.rebuild_rounds):  # a new generation beside the live rows, switch, drop the old
            started = time.perf_counter()
            reached = runtime.audit_projector.rebuild()
            elapsed = time.perf_counter() - started
            audit.append({"events": reached, "seconds": elapsed, "events_per_s": reached / elapsed})
        audit_rate = statistics.median(r["events_per_s"] for r in audit)
    say(f"  {backend.name} audit log rebuild of {audit[0]['events']:,} events: {audit_rate:,.0f} events/s")
    return {"head": head, "rounds": rounds, "audit_rounds": audit}


# -- report ----------------------------------------------------------------------------------------

PG_COMMANDS_TARGET = 1_000
LAG_P99_TARGET_MS = 100.0
REBUILD_TARGET = 10_000
LAG_LABELS = {
    "same_process": "lag, same process",
    "same_process_big_tenant": "lag, same process, big tenant",
    "concurrent_writers": "lag, writer threads at once",
    "cross_process": "lag, cross-process (LISTEN/NOTIFY)",
    "cross_process_redis": "lag, cross-process + Redis",
}
Row = tuple[str, str, str, str, str]


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def append_rows(name: str, append: dict) -> list[Row]:
    rows = []
    for run in append.values():
        for kind in ("create", "update"):
            rounds = [r[kind] for r in run["rounds"]]
            commands = statistics.median(r["commands_per_s"] for r in rounds)
            events = statistics.median(r["events_per_s"] for r in rounds)
            latency = statistics.median(r["latency_ms"]["p50"] for r in rounds)
            target = f">= {PG_COMMANDS_TARGET:,} cmd/s" if name == "postgres" else ""
            result = f"{commands:,.0f} cmd/s, {events:,.0f} ev/s, {latency:.1f} ms/cmd"
            label = f"{kind}_entity, {run['threads']} thread{'s' if run['threads'] > 1 else ''}"
            rows.append((name, label, result, target, verdict(commands >= PG_COMMANDS_TARGET) if target else ""))
    return rows


def lag_problems(series: dict) -> list[str]:
    problems = [f"{n} {error}" for error, n in series["failures"].items()]
    problems += [f"{series['lost']} not visible within {VISIBLE_TIMEOUT_S:.0f} s"] if series["lost"] else []
    for where in ("view", "hot"):
        missing = series.get(f"missing_in_{where}", 0)
        problems += [f"{missing} created tools never appeared in the {where} catalog"] if missing else []
    return problems


def lag_rows(name: str, lag: dict) -> tuple[list[Row], list[str]]:
    rows: list[Row] = []
    notes: list[str] = []
    target = f"p99 <= {LAG_P99_TARGET_MS:.0f} ms"
    for key, label in LAG_LABELS.items():
        series = lag.get(key)
        if series is None:
            continue
        if "threads" in series:
            label = f"lag, {series['threads']} writer threads at once"
        label += f" ({series['tenant_tools']:,} tools)"
        stats = series["lag_ms"]
        result = f"{stats['p50']:.1f} / {stats['p99']:.1f} / {stats['max']:.1f} ms" if stats["n"] else "no samples"
        problems = lag_problems(series)
        notes += [f"{name}, {label}: " + "; ".join(problems)] if problems else []
        ok = bool(stats["n"]) and stats["p99"] <= LAG_P99_TARGET_MS and not problems
        rows.append((name, label, result, target, verdict(ok) + (" *" if problems else "")))
    return rows, notes


def rebuild_rows(name: str, rebuild: dict) -> list[Row]:
    rate = statistics.median(r["events_per_s"] for r in rebuild["rounds"])
    events = rebuild["rounds"][0]["events"]
    audit = statistics.median(r["events_per_s"] for r in rebuild["audit_rounds"])
    return [
        (
            name,
            f"full rebuild, {events:,} events",
            f"{rate:,.0f} ev/s",
            f">= {REBUILD_TARGET:,} ev/s",
            verdict(rate >= REBUILD_TARGET),
        ),
        (name, "audit log rebuild (new generation, switch)", f"{audit:,.0f} ev/s", "", ""),
    ]


def print_table(results: dict) -> None:
    rows: list[Row] = [("store", "measurement", "median; lag: p50 / p99 / max", "target", "")]
    notes: list[str] = []
    for name, result in results.items():
        rows += append_rows(name, result["append"])
        more_rows, more_notes = lag_rows(name, result["lag"])
        rows += more_rows
        notes += more_notes
        rows += rebuild_rows(name, result["rebuild"])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    say("\n" + lines[0] + "\n" + "-" * max(len(line) for line in lines))
    say("\n".join(lines[1:] + [f"* {note}" for note in notes]))


def write_json(config: Config, results: dict, seconds: float) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS_DIR / f"registry-{stamp}.json"
    document = {
        "finished_at": stamp,
        "seconds": seconds,
        "config": {k: v for k, v in vars(config).items() if k not in ("postgres_url", "redis_url")},
        "machine": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg(),
        },
        "results": results,
    }
    path.write_text(json.dumps(document, indent=2))
    return path


# -- main ------------------------------------------------------------------------------------------


def run_backend(backend: Backend, config: Config) -> dict:
    """Append, then rebuild (topping the log up), then lag: the lag follower starts on a caught-up view."""
    say(f"{backend.name}:")
    started = time.monotonic()
    results: dict[str, Any] = {"append": bench_append(backend, config)}
    results["rebuild"] = bench_rebuild(backend, config)
    results["lag"] = bench_lag(backend, config)
    results["seconds"] = time.monotonic() - started
    return results


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    started = time.perf_counter()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="lg-bench-") as tmp:
        if "sqlite" in config.backends:
            results["sqlite"] = run_backend(sqlite_backend(Path(tmp) / "sqlite"), config)
        if "postgres" in config.backends:
            with postgres_backend(Path(tmp) / "postgres", config.postgres_url) as backend:
                if backend is not None:
                    results["postgres"] = run_backend(backend, config)
    seconds = time.perf_counter() - started
    print_table(results)
    say(f"\n{seconds:.0f} s; every sample in {write_json(config, results, seconds)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
