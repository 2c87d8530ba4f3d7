"""How our PostgreSQL connection pools behave when the database goes away and comes back.

- A connection that sat idle for over ``idle_s`` is pinged before it is handed out (HikariCP's "alive
  bypass window"): after a database restart every idle connection is dead, and no request should be
  the one to find out. The read pool skips connections used within the last second, so its hot path
  pays nothing; the event store's pings every one (``idle_s=0``), since its writes are not retried.
- New connections give up after ``CONNECT_TIMEOUT_S``, and TCP keepalives notice a peer that vanished
  without closing (a network cut) in about half a minute: no call hangs on a dead socket.
- A failed reconnection is given up after ``RECONNECT_TIMEOUT_S`` instead of psycopg_pool's five
  minutes of doubling pauses, after which the next caller that needs a connection starts a fresh
  attempt at once: the pool is back within a second or two of the database, however long it was gone.
"""

from __future__ import annotations

import threading
import time
import weakref
from typing import Any

from psycopg_pool import ConnectionPool

__all__ = ["CONNECT_TIMEOUT_S", "RECONNECT_TIMEOUT_S", "PingWhenIdle", "connection_options"]

CONNECT_TIMEOUT_S = 5
RECONNECT_TIMEOUT_S = 2.0
IDLE_PING_S = 1.0


def connection_options() -> dict[str, Any]:
    """libpq options for every connection we open."""
    return {
        "connect_timeout": CONNECT_TIMEOUT_S,
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 5,
        "keepalives_count": 3,
    }


class PingWhenIdle:
    """The ``check`` and ``reset`` callbacks of a pool: ping a connection idle for over ``idle_s``."""

    def __init__(self, idle_s: float = IDLE_PING_S) -> None:
        self.idle_s = idle_s
        self._returned: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def check(self, conn: Any) -> None:
        with self._lock:
            returned = self._returned.get(conn, 0.0)
        if time.monotonic() - returned > self.idle_s:
            ConnectionPool.check_connection(conn)

    def reset(self, conn: Any) -> None:
        with self._lock:
            self._returned[conn] = time.monotonic()
