"""The follower and the hot catalogs when the store goes away and comes back: no death, no wedge, no lost event."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from ledgergate.application.errors import StoreUnavailableError
from ledgergate.infrastructure.eventstore import log_reader
from ledgergate.projections.hot_catalog import HotCatalogs
from ledgergate.projections.runner import CatalogProjector, Follower, PositionBoard
from tests.application.fakes import envelope, head, new_registry, tool
from tests.projections.test_projector import FakeView


class FlakySource:
    """The log, unless ``down``: then every read fails as an unreachable database does."""

    def __init__(self, read: Callable[[int, int], Sequence[tuple[int, Any]]]) -> None:
        self.read = read
        self.down = False
        self.failed = 0
        self.fail_after_reads: int | None = None  # fail every read after this many successful ones

    def __call__(self, after: int, limit: int) -> Sequence[tuple[int, Any]]:
        if self.fail_after_reads is not None:
            if self.fail_after_reads == 0:
                self.failed += 1
                raise StoreUnavailableError("the database cannot be reached right now; try again shortly")
            self.fail_after_reads -= 1
        if self.down:
            self.failed += 1
            raise StoreUnavailableError("the database cannot be reached right now; try again shortly")
        return self.read(after, limit)


def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    pause = threading.Event()
    while not condition():
        assert time.monotonic() < deadline, what
        pause.wait(0.01)


def test_a_follower_keeps_trying_through_an_outage_and_catches_up_when_the_store_is_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry = new_registry()
    source = FlakySource(log_reader(registry))
    hot_source = FlakySource(log_reader(registry))
    hot = HotCatalogs(hot_source)
    board = PositionBoard()
    follower = Follower(CatalogProjector(FakeView(), source), board, poll_s=0.02, tails=[hot.advance])
    caplog.set_level(logging.INFO, logger="ledgergate.projections")
    follower.start()
    try:
        registry.create_entity(envelope(), "tool", tool(name="before"))
        wait_until(lambda: board.current() == head(registry), "the follower caught up before the outage")

        source.down = hot_source.down = True
        written = registry.create_entity(envelope(), "tool", tool(name="during")).position
        follower.notify(written)
        wait_until(lambda: source.failed >= 4, "the follower retried during the outage")
        assert board.current() < written
        assert all(thread.is_alive() for thread in follower._threads)

        source.down = hot_source.down = False
        wait_until(lambda: board.current() >= written, "the follower caught up after the outage")
        snapshot = hot.get("acme")
        assert snapshot is not None and sorted(snapshot.tools) == ["before", "during"]
    finally:
        follower.stop()
    # The outage is the store's to log (once); the follower logs no line per retry.
    assert not [r for r in caplog.records if r.name == "ledgergate.projections"], caplog.text


def test_a_bug_in_a_pass_is_logged_once_with_its_traceback_and_its_end_once(caplog: pytest.LogCaptureFixture) -> None:
    registry = new_registry()
    registry.create_entity(envelope(), "tool", tool(name="one"))
    broken = {"yes": True}
    calls = []

    def audit() -> None:
        calls.append(1)
        if broken["yes"]:
            raise RuntimeError("a bug")

    def logged() -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.name == "ledgergate.projections"]

    caplog.set_level(logging.INFO, logger="ledgergate.projections")
    follower = Follower(CatalogProjector(FakeView(), log_reader(registry)), PositionBoard(), poll_s=0.01, after=[audit])
    follower.start()
    try:
        wait_until(lambda: len(calls) >= 4, "the broken projection was retried")
        broken["yes"] = False
        wait_until(lambda: len(logged()) >= 2, "its recovery was logged")
    finally:
        follower.stop()
    assert [r.levelno for r in logged()] == [logging.ERROR, logging.INFO]
    assert logged()[0].exc_info is not None


def test_the_hot_catalog_keeps_what_it_folded_when_a_later_read_of_the_log_fails() -> None:
    registry = new_registry()
    for n in range(5):
        registry.create_entity(envelope(), "tool", tool(name=f"t{n}"))
    source = FlakySource(log_reader(registry))
    hot = HotCatalogs(source, batch_size=3)
    source.fail_after_reads = 1  # the first batch is read, the second fails

    with pytest.raises(StoreUnavailableError):
        hot.advance()

    snapshot = hot.get("acme")  # what the first batch brought is served, at the position it reached
    assert hot.position > 0 and snapshot is not None and snapshot.position == hot.position
    source.fail_after_reads = None
    hot.advance()
    snapshot = hot.get("acme")
    assert snapshot is not None and sorted(snapshot.tools) == [f"t{n}" for n in range(5)]
