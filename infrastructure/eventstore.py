"""The event store: settings for the ``eventsourcing`` library, reading the log, waking followers."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import psycopg
from eventsourcing.application import Application
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg import sql as pgsql

from infrastructure.crypto.keys import InstanceKeys
from infrastructure.settings import DatabaseUrl
from infrastructure.stored_records import StoreEventLog, tenant_expression

__all__ = [
    "LogReader",
    "TenantIndexedPostgresRecorder",
    "event_store_env",
    "instance_id",
    "log_reader",
    "postgres_waker",
]

log = logging.getLogger("ledgergate.eventstore")


def instance_id(settings: Any) -> str:
    """A stable name of this instance for export headers: derived from its keys, revealing nothing of them."""
    return "lg-" + hashlib.sha256(b"instance-id:" + InstanceKeys(settings.data_dir).master_key).hexdigest()[:16]


class TenantIndexedPostgresRecorder(PostgresApplicationRecorder):
    """The library's recorder plus an index on (event tenant, position), created with its tables.

    Per-tenant reads (export of a tenant, point-in-time catalogs) then scan only the tenant's rows
    instead of the whole log. Its inserts, reads and lock are the library's, unchanged."""

    def __init__(self, datastore: Any, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        self.sql_create_statements.append(
            pgsql.SQL("CREATE INDEX IF NOT EXISTS {} ON {}.{} (({}), notification_id)").format(
                pgsql.Identifier(f"{events_table_name}_tenant_idx"),
                pgsql.Identifier(self.datastore.schema),
                pgsql.Identifier(events_table_name),
                tenant_expression(),
            )
        )


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
        "APPLICATION_RECORDER_TOPIC": "infrastructure.eventstore:TenantIndexedPostgresRecorder",
        # Not POSTGRES_ENABLE_DB_FUNCTIONS: its insert function skips the table lock that makes commit order
        # equal notification-id order, and followers reading "after position p" would then skip events.
    }
    if database.schema:
        env["POSTGRES_SCHEMA"] = database.schema
    return env


class LogReader:
    """Reads (position, domain event) pairs after a position, in log order; gaps are skipped.

    Called as ``reader(after, limit)``. ``tenant_events`` reads only the tenant's rows (``read_tenant``,
    then an exact check of the decoded tenant), and ``position_at`` finds the last position recorded
    at or before a time by binary search."""

    def __init__(self, app: Application[Any]) -> None:
        self.app = app
        self.log = StoreEventLog(app)

    def __call__(self, after: int, limit: int) -> list[tuple[int, Any]]:
        notifications = self.app.recorder.select_notifications(start=after, limit=limit, inclusive_of_start=False)
        return [(n.id, self.app.mapper.to_domain_event(n)) for n in notifications]

    def tenant_events(
        self, tenant_id: str, stop: int | None = None, skipped: tuple[str, ...] = (), batch: int = 1000
    ) -> Iterator[tuple[int, Any]]:
        """The tenant's events in log order, up to ``stop``; events whose topic starts with one of
        ``skipped`` are left out without being decoded."""
        after = 0
        while True:
            records = self.log.read_tenant(tenant_id, after, batch, stop)
            for record in records:
                if skipped and record.topic.startswith(skipped):
                    continue
                event = self.app.mapper.to_domain_event(
                    StoredEvent(record.stream_id, record.version, record.topic, record.state)
                )
                if getattr(event, "tenant_id", None) == tenant_id:
                    yield record.position, event
            if len(records) < batch:
                return
            after = records[-1].position

    def _time_after(self, position: int) -> tuple[int, datetime] | None:
        rows = self.app.recorder.select_notifications(start=position, limit=1)
        if not rows:
            return None
        return rows[0].id, self.app.mapper.to_domain_event(rows[0]).timestamp

    def position_at(self, moment: datetime) -> int:
        """The last position whose event occurred at or before ``moment`` (0 if none); event times
        follow log order, which the store's single writer lock keeps."""
        low, high = 0, self.log.head()  # invariant: events up to ``low`` are at or before; after ``high`` later
        while low < high:
            middle = (low + high + 1) // 2
            found = self._time_after(middle)
            if found is None or found[0] > high:
                high = middle - 1
            elif found[1] <= moment:
                low = found[0]
            else:
                high = middle - 1
        return low


def log_reader(app: Application[Any]) -> LogReader:
    return LogReader(app)


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
