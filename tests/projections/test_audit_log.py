"""The audit log projection on SQLite and PostgreSQL: the same answers as scanning the log, and a rebuild
beside the live rows that loses nothing appended meanwhile."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from ledgergate.api.runtime import Runtime, build_runtime
from ledgergate.application.audit import AuditFilter
from ledgergate.application.registry import PLATFORM_TENANT
from ledgergate.domain.envelope import Envelope
from ledgergate.infrastructure.eventstore import log_reader
from ledgergate.infrastructure.sql.audit_store import SqlAuditLog
from ledgergate.projections.audit_log import AUDIT_PROJECTION
from tests.conftest import make_settings
from tests.e2e.test_audit_and_archive import TOOL, who
from tests.support.audit_reference import scanned_entries


@pytest.fixture
def runtime(tmp_path: Path, database_url: str) -> Any:
    built = build_runtime(make_settings(tmp_path, database_url), follow=False)
    yield built
    built.close()


def history(runtime: Runtime) -> dict[str, str]:
    registry = runtime.registry
    registry.create_tenant(who("root", PLATFORM_TENANT), {"name": "acme"})
    registry.create_tenant(who("root", PLATFORM_TENANT), {"name": "other"})
    tool = registry.create_entity(who("alice"), "tool", TOOL).id
    registry.update_entity(who("alice"), "tool", tool, {"description": "v2"})
    registry.change_entity(who("bob"), "tool", tool, "disable")
    server = registry.create_entity(who("carol"), "server", {"name": "desk", "tool_ids": [tool]}).id
    registry.create_entity(who("dave", "other"), "tool", {**TOOL, "name": "theirs"})
    registry.change_entity(who("bob"), "tool", tool, "enable")
    by_token = Envelope("acme", "acme:admin", "corr", "cause", actor_token_id="tok-acme", actor_tenant="acme")
    registry.update_entity(by_token, "tool", tool, {"description": "v3"})
    by_platform = Envelope("acme", "default:admin", "corr", "cause", actor_token_id="tok-root", actor_tenant="default")
    registry.update_entity(by_platform, "server", server, {"description": "desk"})
    return {"tool": tool, "server": server}


def scanning(runtime: Runtime, flt: AuditFilter) -> list[dict[str, Any]]:
    return scanned_entries(log_reader(runtime.registry), flt)


def filters(marks: dict[str, str], middle: Any) -> list[AuditFilter]:
    return [
        AuditFilter(tenant_id="acme"),
        AuditFilter(tenant_id="acme", actor="bob"),
        AuditFilter(tenant_id="acme", entity_id=marks["tool"]),
        AuditFilter(tenant_id="acme", entity_kind="server"),
        AuditFilter(tenant_id="acme", entity_kind="tool", event_type="Disabled"),
        AuditFilter(tenant_id="other"),
        AuditFilter(token_id="tok-acme"),
        AuditFilter(tenant_id="acme", actor_tenant="default"),
        AuditFilter(tenant_id="acme", actor="acme:admin", token_id="tok-acme"),
        AuditFilter(tenant_id="acme", since=middle),
        AuditFilter(tenant_id="acme", until=middle),
        AuditFilter(),
    ]


def test_the_projection_answers_every_filter_exactly_as_scanning_the_log(runtime: Runtime) -> None:
    marks = history(runtime)
    runtime.audit_projector.catch_up()
    everything = scanning(runtime, AuditFilter())
    middle = everything[len(everything) // 2]["occurred_at"]
    middle_time = datetime.fromisoformat(middle)
    for flt in filters(marks, middle_time):
        expected = scanning(runtime, flt)
        assert runtime.audit_log.feed(flt, 0, 1000) == expected, flt
        assert expected, flt  # every filter finds something, so equality means something
    bob = runtime.audit_log.feed(AuditFilter(tenant_id="acme", actor="bob"), 0, 1000)
    assert [(e["kind"], e["type"]) for e in bob] == [
        ("tool", "CatalogEntity.Disabled"),
        ("tool", "CatalogEntity.Enabled"),
    ]
    assert "hush" not in json.dumps(runtime.audit_log.feed(AuditFilter(), 0, 1000))
    [by_token] = runtime.audit_log.feed(AuditFilter(token_id="tok-acme"), 0, 1000)
    assert (by_token["actor"], by_token["actor_token_id"], by_token["actor_tenant"]) == (
        "acme:admin",
        "tok-acme",
        "acme",
    )
    assert {e["actor_token_id"] for e in bob} == {None}  # written without a token


def test_pages_continue_after_the_last_position_without_gaps_or_repeats(runtime: Runtime) -> None:
    history(runtime)
    runtime.audit_projector.catch_up()
    pages, after = [], 0
    while True:
        page = runtime.audit_log.feed(AuditFilter(tenant_id="acme"), after, 3)
        pages += page
        if len(page) < 3:
            break
        after = page[-1]["position"]
    assert pages == runtime.audit_log.feed(AuditFilter(tenant_id="acme"), 0, 1000)
    assert len({e["position"] for e in pages}) == len(pages) > 3


def test_catching_up_twice_or_from_two_processes_writes_each_event_once(tmp_path: Path, database_url: str) -> None:
    first = build_runtime(make_settings(tmp_path / "a", database_url), follow=False)
    second = build_runtime(make_settings(tmp_path / "b", database_url), follow=False, run_migrations=False)
    try:
        history(first)
        threads = [threading.Thread(target=r.audit_projector.catch_up) for r in (first, second, first)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        head = first.registry.recorder.max_notification_id()
        store = SqlAuditLog(first.connector)
        assert store.count(AUDIT_PROJECTION) == head
        assert store.position(AUDIT_PROJECTION) == head
    finally:
        second.close()
        first.close()


def test_a_rebuild_builds_beside_the_live_rows_and_keeps_what_was_appended_meanwhile(runtime: Runtime) -> None:
    marks = history(runtime)
    runtime.audit_projector.catch_up()
    before = runtime.audit_log.feed(AuditFilter(), 0, 1000)
    store = SqlAuditLog(runtime.connector)
    source = runtime.audit_projector.source
    appended: list[int] = []

    def source_appending_midway(after: int, limit: int) -> Any:
        # the first read of the rebuild: meanwhile a user writes and the live projection follows
        if not appended:
            appended.append(runtime.registry.change_entity(who("erin"), "tool", marks["tool"], "disable").position)
            runtime.audit_projector.catch_up()
            assert runtime.audit_log.feed(AuditFilter(actor="erin"), 0, 10)  # still served from the live rows
        return source(after, limit)

    runtime.audit_projector.source = source_appending_midway
    runtime.audit_projector.batch_size = 4  # several batches beside the live rows before the switch
    try:
        reached = runtime.audit_projector.rebuild()
    finally:
        runtime.audit_projector.source = source
    runtime.audit_projector.catch_up()
    after = runtime.audit_log.feed(AuditFilter(), 0, 1000)
    assert after[: len(before)] == before
    assert [e["actor"] for e in after[len(before) :]] == ["erin"]
    assert reached >= appended[0]
    assert store.count(AUDIT_PROJECTION) == len(after)  # the old generation's rows are gone
    with runtime.connector.read() as cur:
        generations = cur.execute("SELECT DISTINCT generation FROM audit_log")
    assert len(generations) == 1


def test_time_filters_compare_instants_whatever_the_offset_they_are_given_in(runtime: Runtime) -> None:
    history(runtime)
    runtime.audit_projector.catch_up()
    everything = runtime.audit_log.feed(AuditFilter(tenant_id="acme"), 0, 1000)
    last = datetime.fromisoformat(everything[-1]["occurred_at"])
    in_tokyo = last.astimezone(timezone(timedelta(hours=9)))
    assert runtime.audit_log.feed(AuditFilter(tenant_id="acme", since=in_tokyo), 0, 1000) == everything[-1:]


def test_two_rebuilds_at_once_build_side_by_side_and_leave_one_complete_generation(runtime: Runtime) -> None:
    history(runtime)
    runtime.audit_projector.catch_up()
    before = runtime.audit_log.feed(AuditFilter(), 0, 1000)
    runtime.audit_projector.batch_size = 2
    failures: list[BaseException] = []

    def rebuild() -> None:
        try:
            runtime.audit_projector.rebuild()
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=rebuild) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    runtime.audit_projector.catch_up()
    assert failures == []
    assert runtime.audit_log.feed(AuditFilter(), 0, 1000) == before
    with runtime.connector.read() as cur:
        assert len(cur.execute("SELECT DISTINCT generation FROM audit_log")) == 1


def test_rows_written_before_events_named_their_credential_read_with_none(runtime: Runtime) -> None:
    history(runtime)
    runtime.audit_projector.catch_up()
    store = SqlAuditLog(runtime.connector)
    with runtime.connector.transaction() as cur:  # as the audit log held them before migration 0005
        cur.execute("UPDATE audit_log SET actor_token_id = NULL, actor_tenant = NULL", ())
        rows = cur.execute("SELECT generation, position, entry FROM audit_log", ())
        for generation, position, entry in rows:
            old = {k: v for k, v in json.loads(entry).items() if k not in ("actor_token_id", "actor_tenant")}
            cur.execute(
                "UPDATE audit_log SET entry = ? WHERE generation = ? AND position = ?",
                (json.dumps(old), generation, position),
            )

    entries = store.entries(AUDIT_PROJECTION, AuditFilter(), 0, 1000)

    assert entries and all(e["actor_token_id"] is None and e["actor_tenant"] is None for e in entries)
    assert store.entries(AUDIT_PROJECTION, AuditFilter(token_id="tok-acme"), 0, 1000) == []
