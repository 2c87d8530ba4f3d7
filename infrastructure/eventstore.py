"""The event store: settings for the ``eventsourcing`` library, reading the log, waking followers."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.application import Application
from eventsourcing.persistence import StoredEvent
from psycopg import sql as pgsql

from application.event_archive import StoredRecord
from infrastructure.crypto.keys import InstanceKeys
from infrastructure.settings import DatabaseUrl

__all__ = ["StoreEventLog", "event_store_env", "log_reader", "postgres_waker"]

log = logging.getLogger("ledgergate.eventstore")


def instance_id(settings: Any) -> str:
    """A stable name of this instance for export headers: derived from its keys, revealing nothing of them."""
    return "lg-" + hashlib.sha256(b"instance-id:" + InstanceKeys(settings.data_dir).master_key).hexdigest()[:16]


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
        # Not POSTGRES_ENABLE_DB_FUNCTIONS: its insert function skips the table lock that makes commit order
        # equal notification-id order, and followers reading "after position p" would then skip events.
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


class StoreEventLog:
    """The ``EventLog`` port over the library's recorder: raw stored records, no decoding."""

    def __init__(self, app: Application[Any]) -> None:
        self.recorder = app.recorder

    def read(self, after: int, limit: int) -> list[StoredRecord]:
        return [
            StoredRecord(n.id, n.originator_id, n.originator_version, n.topic, n.state)
            for n in self.recorder.select_notifications(start=after, limit=limit, inclusive_of_start=False)
        ]

    def existing(self, stream_id: UUID, version: int) -> StoredRecord | None:
        found = self.recorder.select_events(stream_id, gt=version - 1, lte=version)
        return (
            StoredRecord(0, found[0].originator_id, found[0].originator_version, found[0].topic, found[0].state)
            if found
            else None
        )

    def append(self, records: list[StoredRecord]) -> list[int]:
        stored = [
            StoredEvent(originator_id=r.stream_id, originator_version=r.version, topic=r.topic, state=r.state)
            for r in records
        ]
        return [int(i) for i in self.recorder.insert_events(stored) or []]  # type: ignore[attr-defined]
