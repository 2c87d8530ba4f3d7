"""The same event-store and projection contract, run against SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from uuid import UUID

import pytest
from eventsourcing.persistence import IntegrityError

from ledgergate.api.runtime import Runtime, build_runtime
from ledgergate.application.errors import AlreadyIssuedError, ConflictError, VersionConflictError
from ledgergate.application.ports import ItemFilter
from ledgergate.application.registry import PLATFORM_TENANT
from ledgergate.domain.envelope import Envelope, recording
from ledgergate.infrastructure.settings import Settings

TOOL = {
    "name": "search",
    "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}},
    "integration": {
        "method": "GET",
        "url": "https://api.example.com/search",
        "query": {"q": "q"},
        "headers": {"X-Api-Key": "k-123"},
    },
}


def envelope(tenant: str = "acme") -> Envelope:
    return Envelope(tenant, "tester", "corr-1", "req-1")


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    rt = build_runtime(settings, follow=False)
    rt.registry.create_tenant(envelope(PLATFORM_TENANT), {"name": "acme"})
    yield rt
    rt.close()


def catch_up(rt: Runtime) -> int:
    position = rt.projector.catch_up()
    rt.board.publish(position)
    return position


def test_a_written_tool_is_visible_in_the_catalog_once_the_projection_reaches_its_position(runtime: Runtime) -> None:
    written = runtime.registry.create_entity(envelope(), "tool", TOOL)
    assert catch_up(runtime) >= written.position
    item = runtime.queries.get("acme", "tool", written.id)
    assert item["name"] == "search"
    assert item["integration"]["headers"]["X-Api-Key"] == "********"
    assert item["version"] == 1


def test_the_store_refuses_a_second_writer_of_the_same_stream_version(runtime: Runtime) -> None:
    written = runtime.registry.create_entity(envelope(), "tool", TOOL)
    registry = runtime.registry
    first = registry.repository.get(UUID(written.id))
    second = registry.repository.get(UUID(written.id))
    with recording(envelope()):
        first.update({"description": "one"})
        second.update({"description": "two"})
    registry.save(first)
    head = registry.recorder.max_notification_id()
    with pytest.raises(IntegrityError):
        registry.save(second)
    assert registry.recorder.max_notification_id() == head
    assert registry.repository.get(first.id).description == "one"


def test_racing_commands_on_one_tool_never_lose_an_update(runtime: Runtime) -> None:
    written = runtime.registry.create_entity(envelope(), "tool", TOOL)
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def change(n: int) -> None:
        barrier.wait()
        try:
            runtime.registry.update_entity(envelope(), "tool", written.id, {"description": f"d{n}"}, expected_version=1)
            outcomes.append(f"ok{n}")
        except VersionConflictError:
            outcomes.append("conflict")

    threads = [threading.Thread(target=change, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [o for o in outcomes if o.startswith("ok")]
    assert len(winners) == 1
    assert outcomes.count("conflict") == 3
    tool = runtime.registry.repository.get(UUID(written.id))
    assert tool.version == 2
    assert tool.description == f"d{winners[0][2:]}"


def test_two_creates_of_one_name_racing_leave_exactly_one_tool(runtime: Runtime) -> None:
    results: list[str] = []
    barrier = threading.Barrier(3)

    def create() -> None:
        barrier.wait()
        try:
            runtime.registry.create_entity(envelope(), "tool", TOOL)
            results.append("created")
        except (ConflictError, VersionConflictError):
            results.append("refused")

    threads = [threading.Thread(target=create) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count("created") == 1
    catch_up(runtime)
    items, _ = runtime.queries.list("acme", "tool", ItemFilter(), None, 50)
    assert [item["name"] for item in items] == ["search"]


def test_rebuilding_the_catalog_from_the_log_gives_the_same_rows(runtime: Runtime) -> None:
    for n in range(30):
        written = runtime.registry.create_entity(
            envelope(), "tool", {**TOOL, "name": f"t{n:02d}", "tags": [f"g{n % 3}"]}
        )
        if n % 4 == 0:
            runtime.registry.change_entity(envelope(), "tool", written.id, "disable")
        if n % 5 == 0:
            runtime.registry.update_entity(envelope(), "tool", written.id, {"description": f"tool {n}"})
    catch_up(runtime)
    before = runtime.queries.list("acme", "tool", ItemFilter(), None, 500)[0]
    runtime.view.reset(runtime.projector.name)
    assert runtime.view.position(runtime.projector.name) == 0
    catch_up(runtime)
    after = runtime.queries.list("acme", "tool", ItemFilter(), None, 500)[0]
    assert after == before
    assert len(after) == 30


def test_lists_filter_by_enabled_tag_and_name_prefix_and_page_in_a_stable_order(runtime: Runtime) -> None:
    for n in range(12):
        written = runtime.registry.create_entity(
            envelope(),
            "tool",
            {**TOOL, "name": f"{'alpha' if n < 6 else 'beta'}_{n:02d}", "tags": ["even" if n % 2 == 0 else "odd"]},
        )
        if n in (0, 7):
            runtime.registry.change_entity(envelope(), "tool", written.id, "disable")
    catch_up(runtime)
    names: list[str] = []
    cursor = None
    while True:
        items, cursor = runtime.queries.list("acme", "tool", ItemFilter(), cursor, 5)
        names += [item["name"] for item in items]
        if cursor is None:
            break
    assert names == sorted(names) and len(names) == 12
    enabled_even_alpha = runtime.queries.list(
        "acme", "tool", ItemFilter(enabled=True, tag="even", name_prefix="alpha"), None, 50
    )[0]
    assert [item["name"] for item in enabled_even_alpha] == ["alpha_02", "alpha_04"]


def test_a_tenant_sees_none_of_another_tenants_catalog(runtime: Runtime) -> None:
    runtime.registry.create_tenant(envelope(PLATFORM_TENANT), {"name": "globex"})
    written = runtime.registry.create_entity(envelope("globex"), "tool", TOOL)
    catch_up(runtime)
    assert runtime.queries.list("acme", "tool", ItemFilter(), None, 50)[0] == []
    with pytest.raises(Exception, match="no tool"):
        runtime.queries.get("acme", "tool", written.id)
    with pytest.raises(Exception, match="no tool"):
        runtime.registry.update_entity(envelope("acme"), "tool", written.id, {"description": "hijack"})


def test_projection_position_survives_a_restart_and_nothing_is_applied_twice(settings: Settings) -> None:
    first_run = build_runtime(settings, follow=False)
    first_run.registry.create_tenant(envelope(PLATFORM_TENANT), {"name": "acme"})
    first_run.registry.create_entity(envelope(), "tool", TOOL)
    reached = catch_up(first_run)
    first_run.close()
    second_run = build_runtime(settings, follow=False)
    try:
        assert second_run.view.position(second_run.projector.name) == reached
        assert second_run.projector.run_once() == (reached, 0)
        assert len(second_run.queries.list("acme", "tool", ItemFilter(), None, 50)[0]) == 1
    finally:
        second_run.close()


def test_a_follower_in_another_runtime_sees_writes_of_this_one(settings: Settings, runtime: Runtime) -> None:
    reader = build_runtime(settings, follow=True)
    try:
        written = runtime.registry.create_entity(envelope(), "tool", TOOL)
        assert reader.board.wait_for(written.position, timeout_s=5.0)
        assert reader.queries.get("acme", "tool", written.id)["name"] == "search"
    finally:
        reader.close()


def test_a_rebuild_replays_the_log_in_one_transaction_and_gives_the_same_rows(runtime: Runtime) -> None:
    for n in range(25):
        written = runtime.registry.create_entity(envelope(), "tool", {**TOOL, "name": f"r{n:02d}", "tags": ["x"]})
        if n % 3 == 0:
            runtime.registry.update_entity(envelope(), "tool", written.id, {"description": "changed"})
    head = catch_up(runtime)
    before = runtime.queries.list("acme", "tool", ItemFilter(tag="x"), None, 500)[0]
    assert runtime.projector.rebuild() == head
    assert runtime.view.position(runtime.projector.name) == head
    assert runtime.queries.list("acme", "tool", ItemFilter(tag="x"), None, 500)[0] == before


def test_concurrent_writers_lose_no_event_on_the_way_to_a_live_follower(settings: Settings, runtime: Runtime) -> None:
    follower = build_runtime(settings, follow=True)
    errors: list[Exception] = []

    def write(worker: int) -> None:
        try:
            for n in range(40):
                runtime.registry.create_entity(envelope(), "tool", {**TOOL, "name": f"w{worker}_{n:02d}"})
        except Exception as exc:
            errors.append(exc)

    try:
        threads = [threading.Thread(target=write, args=(worker,)) for worker in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        head = runtime.registry.recorder.max_notification_id()
        assert follower.board.wait_for(head, timeout_s=30)
        assert follower.hot is not None and follower.hot.advance() >= head
        listed = follower.queries.list("acme", "tool", ItemFilter(), None, 500)[0]
        assert len(listed) == 160
        snapshot = follower.hot.get("acme")
        assert snapshot is not None and len(snapshot.tools) == 160
    finally:
        follower.close()


def test_workers_issuing_with_one_issue_key_issue_one_token(settings: Settings, runtime: Runtime) -> None:
    """Two runtimes on one store stand for two worker processes; the store's (stream, version) key decides."""
    other = build_runtime(settings, follow=False)
    start = threading.Barrier(6)
    outcomes: list[str] = []

    def issue(rt: Runtime) -> None:
        start.wait()
        try:
            written, _ = rt.registry.issue_token(envelope(), "admin", "twice", "bot", "viewer", None, None, "k" * 22)
            outcomes.append(written.id)
        except AlreadyIssuedError as exc:
            outcomes.append(f"already:{exc.extra['existing_id']}")

    try:
        threads = [threading.Thread(target=issue, args=(rt,)) for rt in (runtime, other) * 3]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        issued = [o for o in outcomes if not o.startswith("already:")]
        assert len(issued) == 1 and len(outcomes) == 6
        assert all(o == f"already:{issued[0]}" for o in outcomes if o != issued[0])
        catch_up(runtime)
        tokens = runtime.queries.list("acme", "token", ItemFilter(), None, 500)[0]
        assert [t["name"] for t in tokens] == ["twice"]
    finally:
        other.close()
