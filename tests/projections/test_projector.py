"""The projector over an in-memory view: batches, exactly once, nothing half-applied, races with a rival."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest

from ledgergate.application.registry import Registry
from ledgergate.infrastructure.eventstore import log_reader
from ledgergate.projections.catalog import PROJECTION_NAME, Row, evolve
from ledgergate.projections.runner import CatalogProjector, PositionBoard
from tests.application.fakes import envelope, head, new_registry, tool


class FakeBatch:
    def __init__(self, view: FakeView, name: str) -> None:
        self.view = view
        self.position = view.position(name)
        self.staged: tuple[list[Row], int] | None = None

    def load(self, ids: Sequence[str]) -> dict[str, Row]:
        self.view.loaded.append(list(ids))
        return {i: copy.deepcopy(self.view.rows[i]) for i in ids if i in self.view.rows}

    def write(self, rows: list[Row], new_position: int) -> None:
        if self.view.fail_next_write:
            self.view.fail_next_write = False
            raise RuntimeError("the view's connection dropped")
        self.staged = (copy.deepcopy(rows), new_position)


class FakeView:
    """A transactional view in memory: a batch's writes are committed only if the batch ends cleanly."""

    def __init__(self) -> None:
        self.rows: dict[str, Row] = {}
        self.positions: dict[str, int] = {}
        self.committed: list[tuple[int, int]] = []  # (rows written, new position) per committed batch
        self.loaded: list[list[str]] = []
        self.fail_next_write = False
        self.on_lock: Callable[[], None] | None = None  # what a rival process does just before we lock

    def position(self, name: str) -> int:
        return self.positions.get(name, 0)

    @contextmanager
    def batch(self, name: str, rebuild: bool = False) -> Iterator[FakeBatch]:
        rival, self.on_lock = self.on_lock, None
        if rival is not None:
            rival()
        batch = FakeBatch(self, name)
        yield batch
        if batch.staged is not None:
            rows, position = batch.staged
            self.rows = {} if rebuild else self.rows
            self.rows.update({row["id"]: row for row in rows})
            self.positions[name] = position
            self.committed.append((len(rows), position))


class RecordingSource:
    def __init__(self, registry: Registry) -> None:
        self.read = log_reader(registry)
        self.asked: list[int] = []

    def __call__(self, after: int, limit: int) -> Sequence[tuple[int, Any]]:
        self.asked.append(after)
        return self.read(after, limit)


def populated_registry() -> tuple[Registry, dict[str, str]]:
    registry = new_registry()
    ids = {
        "tool": registry.create_entity(envelope(), "tool", tool()).id,
        "gone": registry.create_entity(envelope(), "tool", tool(name="gone")).id,
        "prompt": registry.create_entity(envelope(), "prompt", {"name": "greet", "template": "Hi {{ who }}"}).id,
    }
    registry.update_entity(envelope(), "tool", ids["tool"], {"description": "v2", "tags": ["web"]})
    registry.change_entity(envelope(), "tool", ids["tool"], "disable")
    registry.change_entity(envelope(), "tool", ids["gone"], "delete")
    registry.revert_entity(envelope(), "tool", ids["gone"], 1)
    ids["token"] = registry.issue_token(envelope(), "admin", "ci", "bot", "viewer", None, None)[0].id
    registry.revoke_token(envelope(), ids["token"])
    return registry, ids


def expected_rows(registry: Registry) -> dict[str, Row]:
    rows: dict[str, Row] = {}
    for position, event in log_reader(registry)(0, 10_000):
        new = evolve(rows.get(str(event.originator_id)), event, position)
        if new is not None:
            rows[new["id"]] = new
    return rows


def test_catch_up_projects_the_whole_log_in_batches_of_the_batch_size() -> None:
    registry, ids = populated_registry()
    view, source = FakeView(), RecordingSource(registry)

    position = CatalogProjector(view, source, batch_size=3).catch_up()

    assert position == head(registry) == view.position(PROJECTION_NAME)
    assert view.rows == expected_rows(registry)
    assert [p for _, p in view.committed] == [*range(3, head(registry), 3), head(registry)]
    assert (view.rows[ids["tool"]]["enabled"], view.rows[ids["tool"]]["doc"]["description"]) == (False, "v2")
    assert view.rows[ids["gone"]]["deleted"] is False
    assert view.rows[ids["token"]]["doc"]["revoked"] is True


def test_a_batch_loads_only_the_rows_its_events_continue() -> None:
    registry = new_registry()
    view = FakeView()
    projector = CatalogProjector(view, RecordingSource(registry), batch_size=100)
    first = registry.create_entity(envelope(), "tool", tool())
    projector.catch_up()
    registry.create_entity(envelope(), "tool", tool(name="other"))
    registry.change_entity(envelope(), "tool", first.id, "disable")

    projector.catch_up()

    assert view.loaded[-1] == [first.id]
    assert view.rows[first.id]["enabled"] is False


def test_catching_up_twice_applies_nothing_the_second_time() -> None:
    registry, _ = populated_registry()
    view, source = FakeView(), RecordingSource(registry)
    projector = CatalogProjector(view, source, batch_size=4)
    projector.catch_up()
    rows, commits = copy.deepcopy(view.rows), len(view.committed)

    assert projector.catch_up() == head(registry)

    assert view.rows == rows
    assert len(view.committed) == commits
    assert source.asked[-1] == head(registry)


def test_events_appended_after_a_catch_up_are_applied_once_on_the_next() -> None:
    registry, ids = populated_registry()
    view, source = FakeView(), RecordingSource(registry)
    projector = CatalogProjector(view, source, batch_size=4)
    reached = projector.catch_up()
    asked_before = len(source.asked)

    registry.update_entity(envelope(), "tool", ids["tool"], {"description": "v3"})
    registry.change_entity(envelope(), "tool", ids["tool"], "enable")
    projector.catch_up()

    assert source.asked[asked_before:] == [reached]
    assert view.committed[-1] == (1, head(registry))
    assert view.rows == expected_rows(registry)
    assert view.rows[ids["tool"]]["version"] == 5


def test_a_failure_inside_a_batch_leaves_position_and_rows_unchanged_and_the_next_pass_applies_it_once() -> None:
    registry, ids = populated_registry()
    view = FakeView()
    projector = CatalogProjector(view, RecordingSource(registry), batch_size=5)
    projector.run_once()
    rows, position = copy.deepcopy(view.rows), view.position(PROJECTION_NAME)

    view.fail_next_write = True
    with pytest.raises(RuntimeError):
        projector.run_once()

    assert view.position(PROJECTION_NAME) == position == 5
    assert view.rows == rows
    projector.catch_up()
    assert view.rows == expected_rows(registry)
    assert view.rows[ids["tool"]]["version"] == 3


def test_a_pass_that_loses_the_race_to_a_rival_writes_nothing_and_the_view_stays_consistent() -> None:
    registry, _ = populated_registry()
    view = FakeView()
    ours = CatalogProjector(view, RecordingSource(registry), batch_size=4)
    rival = CatalogProjector(view, RecordingSource(registry), batch_size=4)
    view.on_lock = rival.run_once

    assert ours.run_once() == (4, -1)
    assert [position for _, position in view.committed] == [4]  # only the rival's batch

    assert ours.catch_up() == head(registry)
    assert view.rows == expected_rows(registry)


def test_a_rebuild_replaces_the_view_with_the_replayed_log() -> None:
    registry, _ = populated_registry()
    view = FakeView()
    view.rows["stale"] = {"id": "stale"}

    position = CatalogProjector(view, RecordingSource(registry), batch_size=4).rebuild()

    assert position == head(registry) == view.position(PROJECTION_NAME)
    assert view.rows == expected_rows(registry)


def test_the_position_board_never_goes_back_and_answers_waits_without_blocking() -> None:
    board = PositionBoard()

    board.publish(5)
    board.publish(3)

    assert board.current() == 5
    assert board.wait_for(5, timeout_s=0) is True
    assert board.wait_for(6, timeout_s=0) is False
