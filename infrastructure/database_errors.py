"""Which driver errors mean "the database can't be reached", and their translation into the application's error.

PostgreSQL: every ``psycopg.OperationalError`` (a lost or refused connection, a server shutting down or
starting, no pooled connection in time: ``PoolTimeout``) and ``InterfaceError`` (a closed connection),
except a transaction rolled back by a serialisation failure or deadlock, which is a race, not an outage.
The eventsourcing library wraps these in its own ``OperationalError``/``InterfaceError``; the driver's
error is their cause. SQLite: a database locked past its busy timeout, or a file that can't be opened
or written; its other ``OperationalError``s (no such table, a syntax error) are bugs.
"""

from __future__ import annotations

import sqlite3

import psycopg
from eventsourcing import persistence
from psycopg_pool import PoolTimeout

from ledgergate.application.errors import StoreUnavailableError

__all__ = ["UNREACHABLE_ERRORS", "is_unreachable", "reason", "unavailable"]

UNREACHABLE_ERRORS: tuple[type[Exception], ...] = (
    psycopg.OperationalError,
    psycopg.InterfaceError,
    PoolTimeout,
    persistence.OperationalError,
    persistence.InterfaceError,
    sqlite3.OperationalError,
)
_SQLITE_UNAVAILABLE = (
    "database is locked",
    "database table is locked",
    "unable to open",
    "disk i/o error",
    "disk is full",
)


def is_unreachable(exc: BaseException) -> bool:
    if (getattr(exc, "sqlstate", None) or "").startswith("40"):  # serialisation failure, deadlock: a race
        return False
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        return True
    if isinstance(exc, sqlite3.OperationalError):
        return str(exc).lower().startswith(_SQLITE_UNAVAILABLE)
    if isinstance(exc, persistence.OperationalError | persistence.InterfaceError):
        cause = exc.__cause__
        return is_unreachable(cause) if cause is not None else str(exc).lower().startswith(_SQLITE_UNAVAILABLE)
    return False


def unavailable() -> StoreUnavailableError:
    """The application's error for an unreachable database. Raise it ``from`` the driver's error: clients
    are not told where the database is or what it said (the logs and the CLI are)."""
    return StoreUnavailableError("the database cannot be reached right now; try again shortly")


def reason(exc: BaseException) -> str:
    """The first line of what the driver said, for logs."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__
