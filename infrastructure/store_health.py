"""Whether the database answers: one log line when it stops answering, one when it answers again.

Every adapter that talks to the database reports each call's outcome here (``reported``): a call that
fails because the database can't be reached marks it down and becomes ``StoreUnavailableError``; any
call that succeeds marks it up. While it is down, callers wait only briefly for a pooled connection
(``pool_wait_s``), so a request is refused in well under a second instead of queueing behind the
outage; the pools keep reconnecting, and the first call that gets through brings the normal wait back.
A call's outcome counts only if the call began after the latest change it would undo: a failure of a
call that began before the latest success (it may have waited with the short wait while the pool was
reconnecting) does not mark the database down again, nor a success of a call that began before it was
marked down (answered just before the server went away) mark it up: one line per transition.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ledgergate.application.errors import StoreUnavailableError
from ledgergate.infrastructure.database_errors import is_unreachable, reason, unavailable

__all__ = ["DOWN_POOL_WAIT_S", "POOL_WAIT_S", "StoreHealth", "reported"]

log = logging.getLogger("ledgergate.store")

#: How long a call waits for a pooled connection while the database answers (the pool may be busy).
POOL_WAIT_S = 5.0
#: ... and while it does not: long enough for a reconnection that is under way, short enough to refuse fast.
DOWN_POOL_WAIT_S = 0.5


class StoreHealth:
    def __init__(self) -> None:
        self._down_since: float | None = None
        self._last_success = 0.0
        self._outage_logged = False
        self._lock = threading.Lock()
        self._listeners: list[Callable[[bool], None]] = []

    @property
    def reachable(self) -> bool:
        return self._down_since is None

    @property
    def pool_wait_s(self) -> float:
        return POOL_WAIT_S if self._down_since is None else DOWN_POOL_WAIT_S

    def add_listener(self, listener: Callable[[bool], None]) -> None:
        """``listener(reachable)`` is called on every change, in the thread that saw it."""
        self._listeners.append(listener)

    def failed(self, exc: BaseException, started: float | None = None) -> None:
        """``started``: when the failed call began (``time.monotonic()``). Before the database was ever
        reached there is no outage to log: the caller reports its failure to start."""
        with self._lock:
            if self._down_since is not None or (started is not None and started < self._last_success):
                return
            self._down_since = time.monotonic()
            self._outage_logged = self._last_success > 0
        if self._outage_logged:
            log.warning(
                "the database is unreachable (%s): MCP is served from memory, REST calls that need the database "
                "answer 503 until it is back",
                reason(exc),
                extra={"fields": {"event": "store.unreachable", "reason": reason(exc)}},
            )
        self._changed(False)

    def succeeded(self, started: float | None = None) -> None:
        """``started``: when the call began; one that began before the database was marked down (it was
        answered just before the server went away) does not mark it up again."""
        self._last_success = time.monotonic()
        if self._down_since is None:  # the common case, without the lock
            return
        with self._lock:
            if self._down_since is None or (started is not None and started < self._down_since):
                return
            down_s, logged = time.monotonic() - self._down_since, self._outage_logged
            self._down_since = None
        if logged:
            log.warning(
                "the database is reachable again after %.1f s",
                down_s,
                extra={"fields": {"event": "store.reachable", "down_s": round(down_s, 3)}},
            )
        self._changed(True)

    def _changed(self, reachable: bool) -> None:
        for listener in self._listeners:
            try:
                listener(reachable)
            except Exception:
                log.exception("a store health listener failed")


@contextmanager
def reported(health: StoreHealth) -> Iterator[None]:
    """Report the outcome of the calls in the block; an unreachable database becomes StoreUnavailableError.

    Raises: StoreUnavailableError."""
    started = time.monotonic()
    try:
        yield
    except StoreUnavailableError:
        raise
    except Exception as exc:
        if not is_unreachable(exc):
            raise
        health.failed(exc, started)
        raise unavailable() from exc
    health.succeeded(started)
