"""Applying a ContextForge plan to a tenant: created, disabled where planned, idempotent, dry runs write nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from ledgergate.application.contextforge_import import IMPORT_ACTOR, import_contextforge
from ledgergate.application.contextforge_plan import plan_contextforge_import
from ledgergate.application.errors import NotFoundError
from ledgergate.domain.upstream import Upstream
from ledgergate.domain.virtual_server import VirtualServer
from tests.application.fakes import envelope, head, new_registry

FIXTURE = Path(__file__).parent.parent / "fixtures" / "contextforge_export.json"


def plan(mutate: Any = None) -> Any:
    data = json.loads(FIXTURE.read_text())
    if mutate is not None:
        mutate(data)
    return plan_contextforge_import(data)


def ids(items: dict[str, dict[str, Any]]) -> set[UUID]:
    return {UUID(item["id"]) for item in items.values()}


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in report["items"]}


def test_a_dry_run_reports_what_would_be_created_and_writes_nothing() -> None:
    registry = new_registry()
    before = head(registry)

    report = import_contextforge(registry, "acme", plan(), dry_run=True)

    assert head(registry) == before
    assert {i["status"] for i in report["items"]} == {"would create"}
    assert report["counts"]["would create"] == 8
    assert report["counts"]["skipped"] == 7
    assert [s["name"] for s in report["secrets"]] == ["time-server", "create_ticket"]


def test_a_dry_run_validates_like_the_import_and_says_what_would_fail() -> None:
    def too_long(data: dict[str, Any]) -> None:
        data["entities"]["tools"][1]["description"] = "x" * 9000  # over the 8192-character limit

    registry = new_registry()
    before = head(registry)

    dry = by_name(import_contextforge(registry, "acme", plan(too_long), dry_run=True))

    assert head(registry) == before
    assert dry["create_ticket"]["status"] == "would fail"
    assert "description" in dry["create_ticket"]["reason"]
    assert dry["get_weather"]["status"] == "would create"
    real = by_name(import_contextforge(registry, "acme", plan(too_long)))
    assert {name: item["status"] for name, item in real.items()} == {
        name: {"would fail": "failed", "would create": "created"}.get(item["status"], item["status"])
        for name, item in dry.items()
    }


def test_importing_creates_every_item_disabled_where_planned_with_the_import_actor() -> None:
    registry = new_registry()

    report = import_contextforge(registry, "acme", plan())

    items = by_name(report)
    assert report["counts"]["created"] == 8 and report["counts"]["failed"] == 0
    enabled = {name: registry.repository.get(UUID(item["id"])).enabled for name, item in items.items()}
    assert enabled == {
        "time-server": False,
        "docs-mcp": False,
        "get_weather": True,
        "create_ticket": False,
        "convert_currency": False,
        "docs://readme": True,
        "summarize": True,
        "ai-tools-server": True,
    }
    events = [registry.mapper.to_domain_event(n) for n in registry.recorder.select_notifications(start=1, limit=500)]
    assert {e.actor for e in events if e.tenant_id == "acme" and e.originator_id in ids(items)} == {IMPORT_ACTOR}


def test_an_upstream_is_registered_disabled_in_the_same_save_so_no_commit_ever_shows_it_enabled() -> None:
    saves: list[int] = []
    registry = new_registry(on_saved=saves.append)

    report = import_contextforge(registry, "acme", plan())

    upstream_id = UUID(by_name(report)["time-server"]["id"])
    upstream: Upstream = registry.repository.get(upstream_id)
    assert (upstream.enabled, upstream.items, upstream.auth) == (False, {}, {"type": "none"})
    positions = [
        n.id for n in registry.recorder.select_notifications(start=1, limit=500) if n.originator_id == upstream_id
    ]
    registered, disabled = positions
    assert not [save for save in saves if registered <= save < disabled]  # no commit ends between the two events


def test_a_server_holds_the_ids_of_the_tools_created_for_its_members() -> None:
    registry = new_registry()

    items = by_name(import_contextforge(registry, "acme", plan()))

    server: VirtualServer = registry.repository.get(UUID(items["ai-tools-server"]["id"]))
    assert set(server.tool_ids) == {items["get_weather"]["id"], items["create_ticket"]["id"]}


def test_re_importing_changes_nothing_and_reports_every_item_as_existing() -> None:
    registry = new_registry()
    first = by_name(import_contextforge(registry, "acme", plan()))
    before = head(registry)

    again = import_contextforge(registry, "acme", plan())

    assert head(registry) == before
    assert {i["status"] for i in again["items"]} == {"exists"}
    assert {name: i["id"] for name, i in by_name(again).items()} == {name: i["id"] for name, i in first.items()}


def test_a_name_taken_by_an_existing_item_is_reported_and_a_server_uses_the_existing_tool() -> None:
    registry = new_registry()
    existing = registry.create_entity(
        envelope(),
        "tool",
        {
            "name": "get_weather",
            "input_schema": {"type": "object"},
            "integration": {"method": "GET", "url": "https://weather.example.org/now"},
        },
    )

    items = by_name(import_contextforge(registry, "acme", plan()))

    assert (items["get_weather"]["status"], items["get_weather"]["id"]) == ("exists", existing.id)
    server: VirtualServer = registry.repository.get(UUID(items["ai-tools-server"]["id"]))
    assert existing.id in server.tool_ids


def test_a_server_whose_member_fails_to_import_is_not_created_and_the_rest_is() -> None:
    def too_long(data: dict[str, Any]) -> None:
        data["entities"]["tools"][1]["description"] = "x" * 9000  # over the 8192-character limit

    registry = new_registry()

    report = import_contextforge(registry, "acme", plan(too_long))

    items = by_name(report)
    assert items["create_ticket"]["status"] == "failed"
    assert "description" in items["create_ticket"]["reason"]
    assert items["ai-tools-server"]["status"] == "skipped"
    assert items["ai-tools-server"]["reason"] == "member(s) not imported: tool 'create_ticket'"
    assert "id" not in items["ai-tools-server"]
    assert items["get_weather"]["status"] == "created"
    assert report["counts"]["failed"] == 1


def test_importing_into_a_tenant_that_does_not_exist_is_refused_and_writes_nothing() -> None:
    registry = new_registry()
    before = head(registry)

    with pytest.raises(NotFoundError, match="no tenant 'nope'"):
        import_contextforge(registry, "nope", plan())
    assert head(registry) == before
