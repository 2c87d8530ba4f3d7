"""Follows the global log and keeps the catalog view up to date, in batches, exactly once.

Every process runs a follower. Each pass locks the projection's tracking row, reads the events after
its position, folds them into rows and commits rows and position together; a follower that loses the
race finds the position already advanced and writes nothing. So any number of processes keep one
view consistent, and a process killed mid-batch leaves nothing half-applied.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from ledgergate.application.errors import StoreUnavailableError
from ledgergate.projections.catalog import PROJECTION_NAME, Row, evolve

__all__ = ["CatalogProjector", "EventSource", "Follower", "PositionBoard"]

log = logging.getLogger("ledgergate.projections")

#: Pauses between attempts after a failed pass: doubling from the first to the last, then the last.
RETRY_PAUSES_S = (0.1, 2.0)

#: Reads up to ``limit`` (position, domain event) pairs after ``position``.
EventSource = Callable[[int, int], Sequence[tuple[int, Any]]]


class _Batch(Protocol):
    position: int

    def load(self, ids: Sequence[str]) -> dict[str, Row]: ...

    def write(self, rows: list[Row], new_position: int) -> None: ...


class CatalogView(Protocol):
    def batch(self, name: str, rebuild: bool = False) -> AbstractContextManager[_Batch]: ...

    def position(self, name: str) -> int: ...


class CatalogProjector:
    def __init__(
        self, view: CatalogView, source: EventSource, batch_size: int = 500, name: str = PROJECTION_NAME
    ) -> None:
        self.view = view
        self.source = source
        self.batch_size = batch_size
        self.name = name

    def run_once(self) -> tuple[int, int]:
        """Process one batch; returns (position reached, events processed), or -1 processed when another
        process moved the view between our read and our lock (then nothing is written; read again).

        The log is read before the view's transaction opens: holding the view's write lock while waiting
        for the store's connections would deadlock with writers on SQLite.
        """
        start = self.view.position(self.name)
        items = self.source(start, self.batch_size)
        if not items:
            return start, 0
        with self.view.batch(self.name) as batch:
            if batch.position != start:
                return batch.position, -1
            needed = {str(event.originator_id) for _, event in items if event.originator_version > 1}
            rows = batch.load(sorted(needed))
            touched: set[str] = set()
            for position, event in items:
                key = str(event.originator_id)
                new = evolve(rows.get(key), event, position)
                if new is not None:
                    rows[key] = new
                    touched.add(key)
            batch.write([rows[key] for key in sorted(touched)], items[-1][0])
            return items[-1][0], len(items)

    def rebuild(self, on_progress: Callable[[int], None] | None = None) -> int:
        """Replay the whole log and swap the view's rows in one transaction: readers see the old view until
        the new one commits. Events appended meanwhile lie after the position written and are caught up.
        ``on_progress`` is told the position reached after each batch read."""
        rows: dict[str, Row] = {}
        position = 0
        while True:  # fold the log in memory first, outside the view's transaction (see run_once)
            items = self.source(position, self.batch_size)
            for item_position, event in items:
                key = str(event.originator_id)
                new = evolve(rows.get(key), event, item_position)
                if new is not None:
                    rows[key] = new
            if items:
                position = items[-1][0]
                if on_progress is not None:
                    on_progress(position)
            if len(items) < self.batch_size:
                break
        with self.view.batch(self.name, rebuild=True) as batch:
            batch.write(list(rows.values()), position)
        return position

    def catch_up(self) -> int:
        """Process batches until the log is exhausted; returns the position reached."""
        while True:
            position, processed = self.run_once()
            if 0 <= processed < self.batch_size:
                return position


class PositionBoard:
    """The position this process knows the projection has reached; readers wait on it."""

    def __init__(self) -> None:
        self._position = 0
        self._cond = threading.Condition()

    def current(self) -> int:
        return self._position

    def publish(self, position: int) -> None:
        with self._cond:
            if position > self._position:
                self._position = position
                self._cond.notify_all()

    def wait_for(self, position: int, timeout_s: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._position >= position, timeout=timeout_s)


class Follower:
    """A thread that runs the projector whenever it is woken, or every ``poll_s`` at the latest.

    ``tails`` are in-memory followers of the log (the hot catalogs) advanced after the durable view;
    ``after`` are projections nobody waits on (the audit log), run once readers have been told, each on its own.
    """

    def __init__(
        self,
        projector: CatalogProjector,
        board: PositionBoard,
        poll_s: float = 0.25,
        wakers: Sequence[Callable[[threading.Event, threading.Event], None]] = (),
        tails: Sequence[Callable[[], int]] = (),
        after: Sequence[Callable[[], object]] = (),
    ) -> None:
        self.projector = projector
        self.tails = tails
        self.after = after
        self.board = board
        self.poll_s = poll_s
        self.wake = threading.Event()
        self.stopped = threading.Event()
        self.caught_up = threading.Event()
        self._threads = [threading.Thread(target=self._loop, name="ledgergate-follower", daemon=True)]
        self._threads += [
            threading.Thread(target=waker, args=(self.wake, self.stopped), daemon=True, name="ledgergate-waker")
            for waker in wakers
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self.stopped.set()
        self.wake.set()
        for thread in self._threads:
            thread.join(timeout=5)

    def notify(self, _position: int = 0) -> None:
        self.wake.set()

    def _loop(self) -> None:
        """Never ends but by ``stop()``: a failed pass (the database is gone, a bug) is tried again after a
        pause that doubles up to ``RETRY_PAUSES_S[1]``, so the follower resumes by itself, from the position
        it committed, within seconds of the database coming back."""
        failing: dict[str, bool] = {}
        pause = RETRY_PAUSES_S[0]
        while not self.stopped.is_set():
            self.wake.clear()
            ok = self._attempt("catalog", self._advance, failing)
            for projection in self.after:
                ok = self._attempt(getattr(projection, "__qualname__", repr(projection)), projection, failing) and ok
            if ok:
                pause = RETRY_PAUSES_S[0]
                self.wake.wait(self.poll_s)
            else:
                self.stopped.wait(pause)
                pause = min(pause * 2, RETRY_PAUSES_S[1])

    def _advance(self) -> None:
        durable = self.projector.catch_up()
        for tail in self.tails:  # in-memory followers of the log (the hot catalogs)
            tail()
        self.board.publish(durable)
        self.caught_up.set()

    @staticmethod
    def _attempt(name: str, step: Callable[[], object], failing: dict[str, bool]) -> bool:
        """Run one step; log its first failure in a row with the traceback and its recovery, not each retry.
        An unreachable database is not logged here: the store's health logs the outage once."""
        try:
            step()
        except StoreUnavailableError:
            failing.setdefault(name, False)
            return False
        except Exception:
            if not failing.get(name):
                log.exception(
                    "projection %s failed; retrying until it succeeds",
                    name,
                    extra={"fields": {"event": "projection.failed", "projection": name}},
                )
            failing[name] = True  # its failure was logged: so will its recovery be
            return False
        if failing.pop(name, False):
            log.info(
                "projection %s is running again",
                name,
                extra={"fields": {"event": "projection.resumed", "projection": name}},
            )
        return True
