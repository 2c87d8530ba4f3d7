"""Direct edits of stored event rows, in SQLite and in PostgreSQL, caught by ``log verify`` at their position."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ledgergate.api.runtime import Runtime, build_runtime
from ledgergate.application import log_proof
from ledgergate.application.log_chain import link
from ledgergate.application.registry import PLATFORM_TENANT
from ledgergate.domain.envelope import Envelope
from ledgergate.infrastructure import log_proof_store
from ledgergate.infrastructure.settings import Settings
from tests.conftest import make_settings, postgres_conninfo

TOOL = {
    "name": "t",
    "input_schema": {"type": "object"},
    "integration": {"method": "GET", "url": "https://api.example.com/x"},
}


@contextmanager
def raw(settings: Settings) -> Iterator[Any]:
    """A connection of our own to the store, past the gateway (what someone with database access has)."""
    if settings.database.kind == "sqlite":
        conn = sqlite3.connect(settings.database.sqlite_path)
        try:
            yield conn
            conn.commit()
        finally:
            conn.close()
    else:
        with psycopg.connect(postgres_conninfo(), autocommit=True) as conn:
            conn.execute(f'SET search_path TO "{settings.database.schema}"')
            yield conn


def events_table(settings: Settings) -> str:
    """The library's table: ``stored_events`` on SQLite, ``registry_events`` (the application's name) on PostgreSQL."""
    return "stored_events" if settings.database.kind == "sqlite" else "registry_events"


def column(settings: Settings) -> str:
    return "rowid" if settings.database.kind == "sqlite" else "notification_id"


def param(settings: Settings, sql: str) -> str:
    return sql if settings.database.kind == "sqlite" else sql.replace("?", "%s")


@pytest.fixture
def world(settings: Settings) -> Iterator[Runtime]:
    """A log of 11 events (a tenant, then two events a tool), the checkpoint at position 5."""
    runtime = build_runtime(settings, follow=False)
    runtime.registry.create_tenant(Envelope(PLATFORM_TENANT, "alice", "c", "c"), {"name": "acme"})
    for n in range(2):
        runtime.registry.create_entity(Envelope("acme", "alice", "c", "c"), "tool", {**TOOL, "name": f"a{n}"})
    assert runtime.proof is not None and runtime.proof.checkpoint() is not None
    for n in range(3):
        runtime.registry.create_entity(Envelope("acme", "alice", "c", "c"), "tool", {**TOOL, "name": f"b{n}"})
    assert runtime.proof.verify().intact
    yield runtime
    runtime.close()


def checkpoint_position(runtime: Runtime) -> int:
    assert runtime.proof is not None
    return runtime.proof.store.checkpoints()[-1].position


def verdict(runtime: Runtime) -> Any:
    assert runtime.proof is not None
    found = runtime.proof.verify()
    assert found.finding is not None, "the edit went unnoticed"
    return found.finding


def test_a_changed_event_is_caught_at_its_position(world: Runtime, settings: Settings) -> None:
    with raw(settings) as conn:
        conn.execute(
            param(settings, f"UPDATE {events_table(settings)} SET state = ? WHERE {column(settings)} = 3"),
            (b'{"tampered":true}',),
        )
    finding = verdict(world)
    assert (finding.position, finding.what) == (3, "changed")
    assert finding.contradicts is not None and finding.contradicts.position == checkpoint_position(world)


def test_a_removed_event_is_caught_with_or_without_its_link(world: Runtime, settings: Settings) -> None:
    with raw(settings) as conn:
        conn.execute(f"DELETE FROM {events_table(settings)} WHERE {column(settings)} = 8")
    finding = verdict(world)
    assert (finding.position, finding.what) == (8, "removed") and finding.contradicts is None  # after the checkpoint
    with raw(settings) as conn:
        conn.execute(f"DELETE FROM {events_table(settings)}_chain WHERE position = 8")
    finding = verdict(world)
    assert (finding.position, finding.what) == (8, "removed") and "last intact position is 7" in finding.detail


def test_an_inserted_event_is_caught(world: Runtime, settings: Settings) -> None:
    with raw(settings) as conn:
        conn.execute(
            param(
                settings,
                f"INSERT INTO {events_table(settings)} (originator_id, originator_version, topic, state) "
                "VALUES (?, 1, ?, ?)",
            ),
            ("a" * 32 if settings.database.kind == "sqlite" else "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa", "x:Y", b"{}"),
        )
    head = world.registry.recorder.max_notification_id()
    finding = verdict(world)
    assert (finding.position, finding.what) == (head, "inserted")


def test_a_rewrite_with_recomputed_links_contradicts_the_signed_checkpoint(world: Runtime, settings: Settings) -> None:
    """Someone who changes an event and recomputes every link after it: only the checkpoint shows it."""
    assert world.proof is not None
    with raw(settings) as conn:
        conn.execute(
            param(settings, f"UPDATE {events_table(settings)} SET state = ? WHERE {column(settings)} = 2"), (b"{}",)
        )
    rows = list(world.proof.store.rows(0, 100))
    with raw(settings) as conn:
        previous_position, previous_link = 0, bytes(32)
        for row in rows:
            assert row.state is not None
            new = link(previous_link, previous_position, row.position, row.stream_id, row.version, row.topic, row.state)
            conn.execute(
                param(settings, f"UPDATE {events_table(settings)}_chain SET link = ? WHERE position = ?"),
                (new, row.position),
            )
            previous_position, previous_link = row.position, new
    finding = verdict(world)
    assert finding.what == "rewritten" and finding.position == 1
    assert finding.contradicts is not None and finding.contradicts.position == checkpoint_position(world)


def test_log_verify_reports_from_where_it_verified_and_the_first_altered_position(
    world: Runtime, settings: Settings, database_url: str
) -> None:
    env = {**os.environ, "LEDGERGATE_DATA_DIR": str(settings.data_dir), "LEDGERGATE_DATABASE_URL": database_url}
    command = [sys.executable, "-m", "ledgergate.api.cli", "log", "verify"]
    intact = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=False)
    head = world.registry.recorder.max_notification_id()
    assert intact.returncode == 0 and f"intact: verified from position 1 to {head}" in intact.stdout, intact.stderr
    report = json.loads(
        subprocess.run([*command, "--json"], capture_output=True, text=True, env=env, timeout=120).stdout
    )
    assert report["intact"] is True and (report["from"], report["to"]) == (1, head)
    assert report["last_checkpoint"]["position"] == checkpoint_position(world)
    with raw(settings) as conn:
        conn.execute(
            param(settings, f"UPDATE {events_table(settings)} SET topic = ? WHERE {column(settings)} = 4"),
            ("x:Forged",),
        )
    caught = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=False)
    assert caught.returncode == 1 and "position 4: changed" in caught.stderr
    assert f"checkpoint at position {checkpoint_position(world)}" in caught.stderr
    problem = json.loads(
        subprocess.run([*command, "--json"], capture_output=True, text=True, env=env, timeout=120).stderr
    )
    assert problem["type"] == "urn:ledgergate:problem:log-altered" and problem["exit_code"] == 1
    assert (problem["position"], problem["what"]) == (4, "changed")
    assert problem["contradicts"]["position"] == checkpoint_position(world)
    later = subprocess.run([*command, "--from", "7"], capture_output=True, text=True, env=env, timeout=120, check=False)
    assert later.returncode == 0 and f"verified from position {checkpoint_position(world) + 1}" in later.stdout


def test_concurrent_writers_in_two_processes_worth_of_pools_do_not_fork_the_chain(
    tmp_path: Path, postgres_url: str
) -> None:
    """Two runtimes (two connection pools, as two processes have), four writer threads each, on PostgreSQL."""
    settings = make_settings(tmp_path / "data", postgres_url)
    runtimes = [build_runtime(settings, follow=False) for _ in range(2)]
    try:
        runtimes[0].registry.create_tenant(Envelope(PLATFORM_TENANT, "alice", "c", "c"), {"name": "acme"})

        def write(job: int) -> None:
            registry = runtimes[job % 2].registry
            for n in range(15):
                registry.create_entity(Envelope("acme", "alice", "c", "c"), "tool", {**TOOL, "name": f"w{job}_{n}"})

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(write, range(8)))
        assert runtimes[1].proof is not None
        verdict = runtimes[1].proof.verify()
        assert verdict.intact and verdict.checked == 1 + 8 * 15 * 2, verdict.finding
        with raw(settings) as conn:
            forks = conn.execute(
                "SELECT previous_position FROM registry_events_chain GROUP BY previous_position HAVING count(*) > 1"
            ).fetchall()
        assert forks == []
    finally:
        for runtime in runtimes:
            runtime.close()


def both_verdicts(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    """The verdict of the walk in this process, and the one of windows (of 3 positions) hashed by worker processes."""
    assert runtime.proof is not None
    monkeypatch.setattr(log_proof, "PARALLEL_FROM", 10**12)
    alone = runtime.proof.verify()
    monkeypatch.setattr(log_proof, "PARALLEL_FROM", 1)
    monkeypatch.setattr(log_proof_store, "WINDOW", 3)
    return alone, runtime.proof.verify()


def test_windows_hashed_by_worker_processes_give_the_walks_verdict_edit_after_edit(
    world: Runtime, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    summarized: list[int] = []
    original = log_proof_store.StoreLogProof.window_summaries

    def counted(self: Any, after: int, stop: int, positions: frozenset[int]) -> Any:
        summarized.append(stop)
        return original(self, after, stop, positions)

    monkeypatch.setattr(log_proof_store.StoreLogProof, "window_summaries", counted)
    alone, parallel = both_verdicts(world, monkeypatch)
    assert summarized and parallel == alone and parallel.intact and parallel.checked == alone.checked > 6
    edits = [
        f"UPDATE {events_table(settings)} SET topic = 'x:Forged' WHERE {column(settings)} = 9",  # after the checkpoint
        f"DELETE FROM {events_table(settings)}_chain WHERE position = 7",  # an event left without its link
        f"DELETE FROM {events_table(settings)} WHERE {column(settings)} = 4",  # an event gone, its link left
    ]
    found = []
    for edit in edits:
        with raw(settings) as conn:
            conn.execute(edit)
        alone, parallel = both_verdicts(world, monkeypatch)
        assert parallel == alone and parallel.finding is not None
        found.append((parallel.finding.position, parallel.finding.what))
    assert found == [(9, "changed"), (7, "inserted"), (4, "removed")]


def failing_window(job: Any) -> Any:
    raise OSError("the worker lost its connection")


def test_a_failing_worker_process_leaves_the_walk_to_this_process(
    world: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(log_proof_store, "_summarize", failing_window)  # forked workers run it as patched
    alone, parallel = both_verdicts(world, monkeypatch)
    assert parallel == alone and parallel.intact
