"""The event store: settings for the ``eventsourcing`` library, reading the log, waking followers."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from eventsourcing.application import Application
from psycopg import sql as pgsql

from infrastructure.settings import DatabaseUrl

__all__ = ["event_store_env", "log_reader", "postgres_waker"]

log = logging.getLogger("ledgergate.eventstore")


def event_store_env(database: DatabaseUrl) -> dict[str, str]:
    if database.kind == "sqlite":
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": database.sqlite_path,
            "SQLITE_LOCK_TIMEOUT": "30",
        }
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": database.dbname,
        "POSTGRES_HOST": database.host,
        "POSTGRES_PORT": str(database.port),
        "POSTGRES_USER": database.user,
        "POSTGRES_PASSWORD": database.password,
        "POSTGRES_POOL_SIZE": "4",
        "POSTGRES_MAX_OVERFLOW": "8",
        "POSTGRES_ENABLE_DB_FUNCTIONS": "y",
    }
    if database.schema:
        env["POSTGRES_SCHEMA"] = database.schema
    return env


def log_reader(app: Application[Any]) -> Callable[[int, int], Sequence[tuple[int, Any]]]:
    """Reads (position, domain event) pairs after a position, in log order; gaps are skipped."""

    def read(after: int, limit: int) -> list[tuple[int, Any]]:
        notifications = app.recorder.select_notifications(start=after, limit=limit, inclusive_of_start=False)
        return [(n.id, app.mapper.to_domain_event(n)) for n in notifications]

    return read


def postgres_waker(conninfo: str, channel: str) -> Callable[[threading.Event, threading.Event], None]:
    """A waker thread body: LISTEN on the store's channel and wake the follower on each NOTIFY."""

    def run(wake: threading.Event, stopped: threading.Event) -> None:
        while not stopped.is_set():
            try:
                with psycopg.connect(conninfo, autocommit=True) as conn:
                    conn.execute(pgsql.SQL("LISTEN {}").format(pgsql.Identifier(channel)))
                    wake.set()
                    while not stopped.is_set():
                        for _ in conn.notifies(timeout=0.5, stop_after=1):
                            wake.set()
            except psycopg.Error:
                log.warning("LISTEN connection lost; reconnecting", exc_info=True)
                stopped.wait(1.0)

    return run
