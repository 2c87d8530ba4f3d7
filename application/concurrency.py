"""Commands that lost a race with another writer are run again on the fresh state.

A command reads its aggregates, decides, and saves; the store refuses the save when another
process (a user, the upstream supervisor recording health) appended to one of the same streams in
between. Nothing was written then, so running the command again is safe: it re-reads, re-checks
any ``If-Match`` version the caller gave, and decides on what is now true. Only a conflict that
persists through every attempt reaches the caller, as 409. Attempts are spaced by a random pause
that doubles with each loss (up to 1, 2, 4 ... 50 ms), so a writer that keeps losing to a busier one
gets a window of its own instead of colliding in lockstep.
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

from ledgergate.application.errors import ConcurrentWriteError

__all__ = ["ATTEMPTS", "retried_on_concurrent_write"]

ATTEMPTS = 10
PAUSE_S = 0.001
MAX_PAUSE_S = 0.05
F = TypeVar("F", bound=Callable[..., Any])


def retried_on_concurrent_write(command: F) -> F:
    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        for attempt in range(1, ATTEMPTS):
            try:
                return command(*args, **kwargs)
            except ConcurrentWriteError:
                pause = min(MAX_PAUSE_S, PAUSE_S * 2 ** (attempt - 1))
                time.sleep(random.uniform(0, pause))  # noqa: S311 - jitter, not secrecy
        return command(*args, **kwargs)

    return run  # type: ignore[return-value]
