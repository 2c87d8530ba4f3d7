"""Proof benchmark: the cost of the live hash chain, of verifying it, of signing exports, of rotating the master key.

On SQLite (a temporary directory) and PostgreSQL (a fresh schema under ``--postgres-url``, dropped at the
end; skipped with a message when unreachable):

- append: registry commands/s (one create = a tool event and a name-claim event, one transaction) with
  the chain written and, interleaved round by round (each round in the other order than the last), with
  the chain switched off in this process; single writer thread, median of the rounds (the method of
  ``bench/registry.py``), and the median of the rounds' own ratios;
- ``log verify``: events/s walking a log of ``--events`` events (written through the import path, chained);
- export: the whole log exported signed vs unsigned, and with vs without the live links on each line;
- ``keys rotate-master`` with ``--tenants`` tenant data keys.

    .venv/bin/python bench/proof.py            # defaults, a few minutes
    .venv/bin/python bench/proof.py --quick    # small sizes

Prints a table and writes the samples to ``bench/results/proof-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

import ledgergate.infrastructure.eventstore as eventstore
from ledgergate.api.runtime import Runtime, build_runtime
from ledgergate.application.event_archive import StoredRecord
from ledgergate.application.key_rotation import rotate_master
from ledgergate.domain.envelope import Envelope
from ledgergate.infrastructure.settings import load_settings

RESULTS_DIR = Path(__file__).resolve().parent / "results"
PLATFORM = Envelope("_platform", "bench", "c", "c")
TENANT = Envelope("bench", "bench", "c", "c")


def say(message: str) -> None:
    print(message, flush=True)


@contextmanager
def backend(kind: str, postgres_url: str) -> Iterator[Runtime | None]:
    with tempfile.TemporaryDirectory(prefix="lg-bench-proof-") as tmp:
        env = {"LEDGERGATE_DATA_DIR": str(Path(tmp) / "data")}
        if kind == "sqlite":
            env["LEDGERGATE_DATABASE_URL"] = f"sqlite:///{Path(tmp) / 'ledgergate.db'}"
            runtime = build_runtime(load_settings(env, env_file=Path(tmp) / "none.env"), follow=False)
            try:
                yield runtime
            finally:
                runtime.close()
            return
        schema = f"lg_bench_proof_{secrets.token_hex(4)}"
        try:
            admin = psycopg.connect(postgres_url, autocommit=True, connect_timeout=3)
        except psycopg.OperationalError as exc:
            say(f"PostgreSQL unreachable ({exc}); skipped")
            yield None
            return
        with admin:
            admin.execute(f'CREATE SCHEMA "{schema}"')
            try:
                env["LEDGERGATE_DATABASE_URL"] = f"{postgres_url}?schema={schema}"
                runtime = build_runtime(load_settings(env, env_file=Path(tmp) / "none.env"), follow=False)
                try:
                    yield runtime
                finally:
                    runtime.close()
            finally:
                admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


@contextmanager
def chain_switched_off() -> Iterator[None]:
    """The recorders without the chain (this process only): the library's append path, as it was before."""
    recorders = eventstore.TenantIndexedPostgresRecorder, eventstore.ReportingSQLiteRecorder
    for recorder in recorders:
        recorder.chained = False
    try:
        yield
    finally:
        for recorder in recorders:
            recorder.chained = True


def tool(n: int) -> dict[str, Any]:
    return {
        "name": f"tool_{n}_{secrets.token_hex(3)}",
        "input_schema": {"type": "object"},
        "integration": {"method": "GET", "url": "https://api.example.com/x"},
    }


def appends(runtime: Runtime, commands: int, rounds: int) -> dict[str, Any]:
    registry = runtime.registry
    for n in range(commands // 2):  # warm up caches, prepared statements and the database file, in both modes
        registry.create_entity(TENANT, "tool", tool(n))
        with chain_switched_off():
            registry.create_entity(TENANT, "tool", tool(n))
    samples: dict[str, list[float]] = {"chained": [], "plain": []}
    for round_ in range(rounds):
        # Each round starts with the mode the last one ended with (chained, plain, plain, chained, ...): a
        # machine whose speed drifts within a round then favours neither mode.
        for mode in ("chained", "plain") if round_ % 2 == 0 else ("plain", "chained"):
            started = time.perf_counter()
            if mode == "plain":
                with chain_switched_off():
                    for n in range(commands):
                        registry.create_entity(TENANT, "tool", tool(n))
            else:
                for n in range(commands):
                    registry.create_entity(TENANT, "tool", tool(n))
            samples[mode].append(commands / (time.perf_counter() - started))
    chained, plain = statistics.median(samples["chained"]), statistics.median(samples["plain"])
    paired = statistics.median(c / p for c, p in zip(samples["chained"], samples["plain"], strict=True))
    return {
        "chained_per_s": chained,
        "plain_per_s": plain,
        "ratio": chained / plain,
        "paired_ratio": paired,  # the median of each round's own ratio
        "samples": samples,
    }


def fill(runtime: Runtime, events: int) -> None:
    """Append ``events`` synthetic records through the import path (chained), in batches of 5,000."""
    log = runtime.archive.log
    state = b'{"tenant_id":"bench","timestamp":"2026-01-01T00:00:00+00:00","payload":"' + b"x" * 300 + b'"}'
    done = 0
    while done < events:
        size = min(5000, events - done)
        records = [StoredRecord(0, uuid.uuid4(), 1, "bench:Filled", state) for _ in range(size)]
        with log.writing() as writer:
            writer.append(records)
        done += size


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def verify_rate(runtime: Runtime, events: int) -> dict[str, Any]:
    assert runtime.proof is not None
    fill(runtime, events)
    runtime.proof.checkpoint()
    before = os.times()
    seconds, verdict = timed(runtime.proof.verify)
    after = os.times()
    # The CPU of this process and of the worker processes that hashed windows of a long log (reaped by then):
    # the walk without the machine's other load.
    cpu = sum(after[n] - before[n] for n in range(4))
    assert verdict.intact, verdict.finding
    return {
        "events": verdict.checked,
        "seconds": seconds,
        "per_s": verdict.checked / seconds,
        "per_cpu_s": verdict.checked / cpu,
    }


def export_overhead(runtime: Runtime, rounds: int) -> dict[str, Any]:
    archive = runtime.archive
    signer = archive.signer
    links = archive.log.links

    def run(signed: bool, linked: bool) -> float:
        archive.signer = signer if signed else None
        archive.log.links = links if linked else (lambda first, last: {})  # type: ignore[method-assign]
        try:
            seconds, _ = timed(lambda: sum(len(line) for line in archive.export()))
        finally:
            archive.signer, archive.log.links = signer, links  # type: ignore[method-assign]
        return seconds

    samples: dict[str, list[float]] = {"signed": [], "unsigned": [], "no_links": []}
    for _ in range(rounds):
        samples["signed"].append(run(True, True))
        samples["unsigned"].append(run(False, True))
        samples["no_links"].append(run(False, False))
    signed, unsigned, bare = (statistics.median(samples[k]) for k in ("signed", "unsigned", "no_links"))
    # What signing adds is one Ed25519 signature of the trailer: timed alone, it is the overhead without the
    # noise of two whole exports on a busy machine.
    assert signer is not None
    payload = b'{"count":1000000,"final_hash":"' + b"0" * 64 + b'","signed_by":"sk-0000000000000000","trailer":true}'
    one, _ = timed(lambda: [signer.sign(payload) for _ in range(100)])
    return {
        "signature_s": one / 100,
        "signature_share": one / 100 / unsigned,
        "signed_s": signed,
        "unsigned_s": unsigned,
        "no_links_s": bare,
        "signing_overhead": signed / unsigned - 1,
        "links_overhead": unsigned / bare - 1,
        "samples": samples,
    }


def rotation(runtime: Runtime, tenants: int) -> dict[str, Any]:
    cipher = runtime.registry.cipher
    for n in range(tenants):
        cipher.ensure_tenant_key(f"bench-{n}")
    assert runtime.ring is not None
    seconds, result = timed(lambda: rotate_master(cipher, runtime.ring, runtime.registry, PLATFORM))  # type: ignore[arg-type]
    return {"tenants": tenants, "rewrapped": result["rewrapped"], "seconds": seconds}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commands", type=int, default=300, help="commands per append round and mode (300)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; medians are shown (5)")
    parser.add_argument("--events", type=int, default=200_000, help="events in the log for verify/export (200,000)")
    parser.add_argument("--tenants", type=int, default=1000, help="tenant data keys for the master rotation (1,000)")
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--quick", action="store_true", help="small sizes")
    args = parser.parse_args(argv)
    if args.quick:
        args.commands, args.rounds, args.events, args.tenants = 50, 3, 20_000, 100
    results: dict[str, Any] = {"started": datetime.now(UTC).isoformat(), "args": vars(args), "backends": {}}
    say(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for kind in args.backends.split(","):
        with backend(kind, args.postgres_url) as runtime:
            if runtime is None:
                continue
            runtime.registry.create_tenant(PLATFORM, {"name": "bench"})
            say(f"[{kind}] appends: {args.rounds} rounds x {args.commands} commands, chained and plain interleaved")
            found: dict[str, Any] = {"append": appends(runtime, args.commands, args.rounds)}
            say(f"[{kind}] master-key rotation with {args.tenants} tenants")
            found["rotation"] = rotation(runtime, args.tenants)
        with backend(kind, args.postgres_url) as runtime:  # a log chained throughout (the plain rounds are not)
            assert runtime is not None
            say(f"[{kind}] log verify over {args.events:,} events")
            found["verify"] = verify_rate(runtime, args.events)
            say(f"[{kind}] export signed / unsigned / without links")
            found["export"] = export_overhead(runtime, 3)
            results["backends"][kind] = found
    say("")
    say(
        f"{'backend':10} {'append chained/s':>17} {'plain/s':>9} {'ratio':>6} {'paired':>7} {'verify ev/s':>12} "
        f"{'ev/cpu-s':>10} {'sign ovh':>9} {'1 sig':>9} {'links ovh':>10} {'rotate-master':>14}"
    )
    for kind, found in results["backends"].items():
        a, v, e, r = found["append"], found["verify"], found["export"], found["rotation"]
        say(
            f"{kind:10} {a['chained_per_s']:>17.0f} {a['plain_per_s']:>9.0f} {a['ratio']:>6.3f} "
            f"{a['paired_ratio']:>7.3f} {v['per_s']:>12,.0f} "
            f"{v['per_cpu_s']:>10,.0f} "
            f"{e['signing_overhead']:>8.1%} {e['signature_share']:>9.5%} {e['links_overhead']:>9.1%} "
            f"{r['seconds']:>10.2f} s/{r['tenants']}"
        )
    RESULTS_DIR.mkdir(exist_ok=True)
    out = RESULTS_DIR / f"proof-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    out.write_text(json.dumps(results, indent=2))
    say(f"load average after: {os.getloadavg()[0]:.1f}; samples: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
