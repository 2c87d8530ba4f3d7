"""Audit answers and export/verify/import of the log, against real stores and a real gateway."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from ledgergate.api.runtime import Runtime, build_runtime
from ledgergate.application.archive_service import ArchiveService
from ledgergate.application.audit import AuditFilter, AuditService, Point
from ledgergate.application.event_archive import ArchiveError, verify_lines
from ledgergate.application.ports import ItemFilter
from ledgergate.application.registry import PLATFORM_TENANT
from ledgergate.domain.envelope import Envelope
from ledgergate.infrastructure.eventstore import log_reader
from ledgergate.infrastructure.stored_records import StoreEventLog
from ledgergate.projections.point_in_time import catalog_at
from tests.api.conftest import start_server
from tests.conftest import make_settings

TOOL = {
    "name": "lookup",
    "input_schema": {"type": "object"},
    "integration": {"method": "GET", "url": "https://api.example.com/x", "headers": {"X-Key": "hush"}},
}


def who(actor: str, tenant: str = "acme") -> Envelope:
    return Envelope(tenant, actor, "corr", "cause")


def build_history(runtime: Runtime) -> dict[str, int]:
    """A small history: create, rename, disable by another actor, a second tool, a deletion."""
    registry = runtime.registry
    registry.create_tenant(who("root", PLATFORM_TENANT), {"name": "acme"})
    first = registry.create_entity(who("alice"), "tool", TOOL)
    renamed = registry.update_entity(who("alice"), "tool", first.id, {"name": "lookup_v2", "description": "New"})
    disabled = registry.change_entity(who("bob"), "tool", first.id, "disable")
    second = registry.create_entity(who("carol"), "tool", {**TOOL, "name": "other"})
    deleted = registry.change_entity(who("carol"), "tool", second.id, "delete")
    return {
        "created": first.position,
        "renamed": renamed.position,
        "disabled": disabled.position,
        "second": second.position,
        "deleted": deleted.position,
        "tool": first.id,
    }  # type: ignore[dict-item]


def live_tools(runtime: Runtime) -> list[dict[str, Any]]:
    runtime.board.publish(runtime.projector.catch_up())
    return runtime.queries.list("acme", "tool", ItemFilter(), None, 500)[0]


def test_the_audit_log_answers_who_disabled_a_tool(settings: Any) -> None:
    runtime = build_runtime(settings, follow=False)
    try:
        marks = build_history(runtime)
        runtime.audit_projector.catch_up()
        audit = runtime.audit_log
        found = audit.feed(AuditFilter(tenant_id="acme", entity_id=str(marks["tool"]), event_type="Disabled"), 0, 10)
        assert [(e["actor"], e["position"]) for e in found] == [("bob", marks["disabled"])]
        assert "hush" not in json.dumps(audit.feed(AuditFilter(tenant_id="acme"), 0, 100))
    finally:
        runtime.close()


def test_the_catalog_at_each_past_position_equals_what_the_projection_showed_then(settings: Any) -> None:
    runtime = build_runtime(settings, follow=False)
    try:
        registry, audit = runtime.registry, AuditService(log_reader(runtime.registry), catalog_at)
        registry.create_tenant(who("root", PLATFORM_TENANT), {"name": "acme"})
        observed: list[tuple[int, list[tuple[str, bool, int]]]] = []
        ids: list[str] = []
        for step in range(12):
            if step % 3 == 0 or not ids:
                ids.append(registry.create_entity(who("alice"), "tool", {**TOOL, "name": f"t{step}"}).id)
            elif step % 3 == 1:
                registry.update_entity(who("bob"), "tool", ids[-1], {"description": f"d{step}"})
            else:
                registry.change_entity(who("bob"), "tool", ids[0], "disable" if step % 2 else "enable")
            live = live_tools(runtime)
            position = runtime.registry.recorder.max_notification_id()
            observed.append((position, [(t["name"], t["enabled"], t["version"]) for t in live]))
        for position, expected in observed:
            past = audit.catalog("acme", Point(position=position))
            assert [(t["name"], t["enabled"], t["version"]) for t in past["tools"]] == expected
    finally:
        runtime.close()


def test_a_diff_lists_added_changed_and_removed_items_field_by_field(settings: Any) -> None:
    runtime = build_runtime(settings, follow=False)
    try:
        marks = build_history(runtime)
        audit = AuditService(log_reader(runtime.registry), catalog_at)
        diff = audit.diff("acme", Point(position=marks["created"]), Point(position=marks["deleted"]))
        assert diff["added"] == [] and diff["removed"] == []
        changed = diff["changed"][0]
        assert changed["fields"]["name"] == {"from": "lookup", "to": "lookup_v2"}
        assert changed["fields"]["enabled"] == {"from": True, "to": False}
        middle = audit.diff("acme", Point(position=marks["created"]), Point(position=marks["second"]))
        assert [a["name"] for a in middle["added"]] == ["other"]
    finally:
        runtime.close()


def export_of(runtime: Runtime, tenant: str | None = None) -> list[bytes]:
    return list(ArchiveService(StoreEventLog(runtime.registry), "test").export(tenant))


def test_any_edit_removal_or_reordering_of_an_export_is_detected_at_its_line(tmp_path: Path) -> None:
    runtime = build_runtime(make_settings(tmp_path / "a"), follow=False)
    try:
        build_history(runtime)
        lines = export_of(runtime)
    finally:
        runtime.close()
    header, count = verify_lines(lines)
    assert header["format"] == "ledgergate-events" and count == len(lines) - 2
    edited = [*lines]
    edited[3] = edited[3].replace(b'"version":1', b'"version":9')
    swapped = [*lines[:2], lines[3], lines[2], *lines[4:]]
    for broken, line in ((edited, 4), (swapped, 3), ([*lines[:4], *lines[5:]], 5), (lines[:-1], None)):
        with pytest.raises(ArchiveError) as raised:
            verify_lines(broken)
        assert raised.value.line == line


@pytest.mark.postgres
def read_models(runtime: Runtime) -> dict[str, Any]:
    """Every durable read model, caught up, without the positions a store assigns on import."""
    runtime.projector.catch_up()
    runtime.audit_projector.catch_up()
    rows = sorted(runtime.view.load_all(runtime.projector.name)[0], key=lambda r: r["id"])
    audit = runtime.audit_log.feed(AuditFilter(), 0, 100_000)
    return {
        "catalog": [{k: v for k, v in row.items() if k != "position"} for row in rows],
        "audit": [{k: v for k, v in entry.items() if k != "position"} for entry in audit],
    }


def test_an_export_round_trips_sqlite_to_postgres_and_back_with_identical_catalogs(
    tmp_path: Path, postgres_url: str
) -> None:
    source = build_runtime(make_settings(tmp_path / "src"), follow=False)
    try:
        build_history(source)
        original = export_of(source)
        expected = [(t["id"], t["name"], t["enabled"], t["version"]) for t in live_tools(source)]
        models = read_models(source)
        assert models["catalog"] and models["audit"]
    finally:
        source.close()
    middle = build_runtime(make_settings(tmp_path / "mid", postgres_url), follow=False)
    try:
        archive = ArchiveService(StoreEventLog(middle.registry), "mid")
        report = archive.import_lines(original)
        assert (report["mode"], report["imported"], report["conflicts"]) == ("restore", len(original) - 2, [])
        again = archive.import_lines(original)
        assert (again["mode"], again["imported"], again["skipped"]) == ("merge", 0, len(original) - 2)
        assert [(t["id"], t["name"], t["enabled"], t["version"]) for t in live_tools(middle)] == expected
        assert read_models(middle) == models
        second = export_of(middle)
    finally:
        middle.close()
    back = build_runtime(make_settings(tmp_path / "back"), follow=False)
    try:
        ArchiveService(StoreEventLog(back.registry), "back").import_lines(second)
        assert [(t["id"], t["name"], t["enabled"], t["version"]) for t in live_tools(back)] == expected
        assert read_models(back) == models
    finally:
        back.close()


def test_an_export_keeps_the_credential_each_event_names_and_an_import_shows_it(tmp_path: Path) -> None:
    source = build_runtime(make_settings(tmp_path / "src"), follow=False)
    try:
        build_history(source)
        by_token = Envelope("acme", "acme:admin", "corr", "cause", actor_token_id="tok-1", actor_tenant="acme")
        written = source.registry.create_entity(by_token, "tool", {**TOOL, "name": "by_token"})
        lines = export_of(source, "acme")
    finally:
        source.close()
    target = build_runtime(make_settings(tmp_path / "dst"), follow=False)
    try:
        ArchiveService(StoreEventLog(target.registry), "dst").import_lines(lines)
        target.audit_projector.catch_up()
        [entry] = target.audit_log.feed(AuditFilter(token_id="tok-1", entity_kind="tool"), 0, 100)
        assert (entry["stream_id"], entry["actor"], entry["actor_tenant"]) == (written.id, "acme:admin", "acme")
        system = target.audit_log.feed(AuditFilter(tenant_id="acme", actor="bob"), 0, 100)
        assert system and {(e["actor_token_id"], e["actor_tenant"]) for e in system} == {(None, None)}
    finally:
        target.close()


def test_a_merge_that_clashes_writes_nothing_and_reports_the_conflict(tmp_path: Path) -> None:
    first = build_runtime(make_settings(tmp_path / "one"), follow=False)
    other = build_runtime(make_settings(tmp_path / "two"), follow=False)
    try:
        build_history(first)
        other.registry.create_tenant(who("root", PLATFORM_TENANT), {"name": "acme"})  # same stream, other bytes
        head = other.registry.recorder.max_notification_id()
        report = ArchiveService(StoreEventLog(other.registry), "two").import_lines(export_of(first))
        assert report["conflicts"] and report["imported"] == 0
        assert other.registry.recorder.max_notification_id() == head
    finally:
        first.close()
        other.close()


@pytest.mark.slow
def test_the_cli_answers_who_disabled_a_tool_and_what_the_catalog_was(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = start_server(data)
    token = (data / "admin-token").read_text().strip()
    headers = {"Authorization": f"Bearer {token}"}
    try:
        tool = httpx.post(server.url + "/v1/tenants/default/tools", headers=headers, json=TOOL).json()
        desk = httpx.post(
            server.url + "/v1/tenants/default/servers", headers=headers, json={"name": "desk", "tool_ids": [tool["id"]]}
        ).json()
        feed = httpx.get(
            f"{server.url}/v1/events?tenant=default&limit=1000&min_position={desk['position']}", headers=headers
        ).json()["items"]
        then = feed[-1]["occurred_at"]  # "last Tuesday": a time, not a position
        time.sleep(0.01)
        emptied = httpx.patch(
            f"{server.url}/v1/tenants/default/servers/{desk['id']}", headers=headers, json={"tool_ids": []}
        )
        assert emptied.status_code == 200, emptied.text
        disabled = httpx.post(f"{server.url}/v1/tenants/default/tools/{tool['id']}/disable", headers=headers).json()
        via_api = httpx.get(
            f"{server.url}/v1/audit?entity={tool['id']}&type=Disabled&min_position={disabled['position']}",
            headers=headers,
        ).json()
        bootstrap_id = str(jwt.decode(token, options={"verify_signature": False})["jti"])
        assert [(e["actor"], e["actor_token_id"], e["actor_tenant"]) for e in via_api["items"]] == [
            ("default:admin", bootstrap_id, "default")
        ]
        at = httpx.get(f"{server.url}/v1/audit/catalog?at={tool['position']}", headers=headers).json()
        assert [(t["name"], t["enabled"]) for t in at["tools"]] == [("lookup", True)]
        exported = httpx.get(server.url + "/v1/events/export?tenant=default", headers=headers)
        assert exported.status_code == 200 and exported.text.count("\n") >= 3
    finally:
        server.stop()
    env = {"LEDGERGATE_DATA_DIR": str(data)}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ledgergate.api.cli", *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env={**os.environ, **env},
        )

    log = cli("audit", "log", "--tenant", "default", "--entity", tool["id"], "--type", "Disabled", "--json")
    assert [e["position"] for e in json.loads(log.stdout)] == [disabled["position"]]
    catalog = cli("audit", "catalog", "--at", str(tool["position"]))
    assert "lookup" in catalog.stdout and "enabled" in catalog.stdout
    exposed = json.loads(cli("audit", "catalog", "--server", desk["id"], "--at", then, "--json").stdout)
    assert [(t["name"], t["enabled"]) for t in exposed["tools"]] == [("lookup", True)]
    now = json.loads(
        cli("audit", "catalog", "--server", desk["id"], "--at", str(disabled["position"]), "--json").stdout
    )
    assert now["tools"] == []
    server_log = json.loads(cli("audit", "log", "--tenant", "default", "--kind", "server", "--json").stdout)
    assert [(e["type"].split(".")[-1], e["actor"]) for e in server_log] == [
        ("Created", "default:admin"),
        ("Updated", "default:admin"),
    ]
    by_token = cli("audit", "log", "--token-id", bootstrap_id, "--kind", "tool", "--json")
    assert [e["type"].split(".")[-1] for e in json.loads(by_token.stdout)] == ["Registered", "Disabled"]
    assert cli("audit", "log", "--token-id", "nobody", "--json").stdout.strip() == "[]"
    table = cli("audit", "log", "--tenant", "default", "--kind", "server")
    assert bootstrap_id in table.stdout and "default:admin" in table.stdout
    export_file = tmp_path / "export.jsonl"
    assert cli("events", "export", "-o", str(export_file)).returncode == 0
    assert cli("events", "verify", str(export_file)).returncode == 0
    lines = export_file.read_bytes().splitlines(keepends=True)
    lines[1] = lines[1].replace(b'"version":1', b'"version":2')
    export_file.write_bytes(b"".join(lines))
    tampered = cli("events", "verify", str(export_file))
    assert tampered.returncode == 1 and "line 2" in tampered.stderr


@pytest.mark.slow
def test_the_event_stream_tails_new_events_and_resumes_after_last_event_id(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = start_server(data)
    headers = {"Authorization": f"Bearer {(data / 'admin-token').read_text().strip()}"}
    try:
        first = httpx.post(server.url + "/v1/tenants/default/tools", headers=headers, json=TOOL).json()
        seen: list[int] = []
        second: dict[str, Any] = {"position": -1}
        with (
            httpx.Client(timeout=10) as http,
            http.stream("GET", server.url + "/v1/events/stream?tenant=default", headers=headers) as stream,
        ):
            for line in stream.iter_lines():
                if not line.startswith("id: "):
                    continue
                seen.append(int(line[4:]))
                if seen[-1] == first["position"]:  # caught up: now a write must arrive live
                    second = httpx.post(
                        server.url + "/v1/tenants/default/tools", headers=headers, json={**TOOL, "name": "later"}
                    ).json()
                if seen[-1] == second["position"]:
                    break
        assert first["position"] in seen and second["position"] in seen
        resume = {**headers, "Last-Event-ID": str(first["position"])}
        with (
            httpx.Client(timeout=10) as http,
            http.stream("GET", server.url + "/v1/events/stream?tenant=default", headers=resume) as stream,
        ):
            resumed_at = next(int(line[4:]) for line in stream.iter_lines() if line.startswith("id: "))
        assert first["position"] < resumed_at <= second["position"]
    finally:
        server.stop()


def test_a_catalog_read_from_the_tenants_events_equals_the_full_replay_at_every_time(settings: Any) -> None:
    runtime = build_runtime(settings, follow=False)
    try:
        marks = build_history(runtime)
        runtime.registry.create_tenant(who("root", PLATFORM_TENANT), {"name": "globex"})
        decoy = {**TOOL, "name": "decoy", "input_schema": {"type": "object", "default": {"tenant_id": "acme"}}}
        runtime.registry.create_entity(who("dave", "globex"), "tool", decoy)  # its bytes hold acme's marker
        runtime.registry.update_entity(who("alice"), "tool", marks["tool"], {"description": "Last"})
        reader = log_reader(runtime.registry)
        fast = AuditService(reader, catalog_at)
        full = AuditService(lambda after, limit: reader(after, limit), catalog_at)
        assert fast.tenant_events is not None and full.tenant_events is None
        for position, event in full.events():
            at_position = fast.catalog("acme", Point(position=position))
            assert at_position == {**full.catalog("acme", Point(position=position)), "position": position}
            at_time = fast.catalog("acme", Point(time=event.timestamp))
            # the events of one save may carry timestamps a few microseconds out of order
            assert abs(at_time["position"] - position) <= 2
            assert at_time["tools"] == full.catalog("acme", Point(position=at_time["position"]))["tools"]
        assert [t["name"] for t in fast.catalog("globex", Point(position=10**6))["tools"]] == ["decoy"]
        first = next(iter(full.events()))[1].timestamp
        assert reader.position_at(first - timedelta(seconds=1)) == 0
    finally:
        runtime.close()
