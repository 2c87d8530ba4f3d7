"""An unreachable database is one application error, ``StoreUnavailableError``, from every adapter, and one
log line per change of the store's health; every other database error stays what it was."""

from __future__ import annotations

import logging
import secrets
import sqlite3
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from eventsourcing import persistence
from psycopg_pool import PoolTimeout

from ledgergate.application.errors import StoreUnavailableError
from ledgergate.application.registry import Registry
from ledgergate.infrastructure.crypto import tenant_cipher
from ledgergate.infrastructure.crypto.tenant_cipher import TenantCipher
from ledgergate.infrastructure.database_errors import is_unreachable
from ledgergate.infrastructure.eventstore import event_store_env
from ledgergate.infrastructure.postgres.connector import PostgresConnector
from ledgergate.infrastructure.settings import DatabaseUrl
from ledgergate.infrastructure.sql.migrator import apply_migrations
from ledgergate.infrastructure.sqlite.connector import SQLiteConnector
from ledgergate.infrastructure.store_health import StoreHealth, reported
from tests.application.fakes import FakeCipher, FakeSigner
from tests.support.processes import free_loopback_port


def store_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "ledgergate.store"]


def test_the_health_logs_one_line_when_the_database_goes_and_one_when_it_is_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    health = StoreHealth()
    changes: list[bool] = []
    health.add_listener(changes.append)
    caplog.set_level(logging.INFO, logger="ledgergate.store")
    with reported(health):
        pass  # the database was reached once: what follows is an outage
    lost = psycopg.OperationalError("server closed the connection unexpectedly")
    for _ in range(50):
        with pytest.raises(StoreUnavailableError), reported(health):
            raise lost
    assert not health.reachable
    for _ in range(50):
        with reported(health):
            pass
    assert health.reachable and changes == [False, True]
    lines = store_lines(caplog)
    assert len(lines) == 2 and "unreachable" in lines[0] and "server closed" in lines[0]
    assert "reachable again" in lines[1]


def test_a_database_never_reached_is_not_logged_as_an_outage(caplog: pytest.LogCaptureFixture) -> None:
    health = StoreHealth()
    caplog.set_level(logging.INFO, logger="ledgergate.store")
    with pytest.raises(StoreUnavailableError), reported(health):
        raise psycopg.OperationalError("connection refused")
    assert not health.reachable  # the caller reports the failure to start; there was no outage
    with reported(health):
        pass
    assert health.reachable and store_lines(caplog) == []


def test_a_failure_of_a_call_that_began_before_the_latest_success_does_not_mark_the_database_down() -> None:
    health = StoreHealth()
    began = time.monotonic()
    with reported(health):
        pass
    health.failed(PoolTimeout("couldn't get a connection after 0.50 sec"), began)
    assert health.reachable
    health.failed(PoolTimeout("couldn't get a connection after 5.00 sec"), time.monotonic())
    assert not health.reachable


def test_a_success_of_a_call_that_began_before_the_database_was_marked_down_does_not_mark_it_up() -> None:
    health = StoreHealth()
    health.succeeded()
    began = time.monotonic()  # a query in flight when the server went away, answered just before it did
    health.failed(psycopg.OperationalError("server closed the connection unexpectedly"), time.monotonic())
    health.succeeded(began)
    assert not health.reachable
    health.succeeded(time.monotonic())
    assert health.reachable


@pytest.mark.parametrize(
    ("error", "unreachable"),
    [
        (psycopg.OperationalError("connection refused"), True),
        (psycopg.InterfaceError("the connection is closed"), True),
        (PoolTimeout("couldn't get a connection after 5.00 sec"), True),
        (psycopg.errors.AdminShutdown("terminating connection due to administrator command"), True),
        (psycopg.errors.SerializationFailure("could not serialize access"), False),
        (psycopg.errors.DeadlockDetected("deadlock detected"), False),
        (psycopg.errors.UndefinedTable("relation does not exist"), False),
        (psycopg.errors.SyntaxError("syntax error"), False),
        (sqlite3.OperationalError("database is locked"), True),
        (sqlite3.OperationalError("unable to open database file"), True),
        (sqlite3.OperationalError("no such table: tools"), False),
        (persistence.IntegrityError("duplicate key"), False),
        (ValueError("not a database error"), False),
    ],
)
def test_only_errors_that_mean_the_database_cannot_be_reached_count_as_such(
    error: Exception, unreachable: bool
) -> None:
    assert is_unreachable(error) is unreachable
    wrapped = persistence.OperationalError(str(error))
    wrapped.__cause__ = error
    if isinstance(error, psycopg.OperationalError | sqlite3.OperationalError):
        assert is_unreachable(wrapped) is unreachable  # the library's wrapping keeps the driver's error as cause


def nobody_listening() -> str:
    """A PostgreSQL URL on a loopback port where nothing listens."""
    return f"postgresql://postgres@127.0.0.1:{free_loopback_port()}/test"


def test_reads_and_transactions_on_a_database_nobody_listens_on_are_store_unavailable() -> None:
    database = DatabaseUrl.parse(nobody_listening())
    health = StoreHealth()
    connector = PostgresConnector(database.conninfo(), health=health)
    try:
        with pytest.raises(StoreUnavailableError), connector.read() as cur:
            cur.execute("SELECT 1")
        assert not health.reachable
        with pytest.raises(StoreUnavailableError), connector.transaction() as cur:
            cur.execute("SELECT 1")
        with pytest.raises(StoreUnavailableError):
            connector.ping()
    finally:
        connector.close()


def test_an_event_store_on_a_database_nobody_listens_on_is_store_unavailable_from_the_start() -> None:
    # (A store that goes away while in use is the fault test's: tests/e2e/test_postgres_outage.py.)
    env = {**event_store_env(DatabaseUrl.parse(nobody_listening())), "CREATE_TABLE": "n"}
    with pytest.raises(StoreUnavailableError):
        Registry(env, cipher=FakeCipher(), signer=FakeSigner())  # type: ignore[arg-type]


@pytest.mark.postgres
def test_a_database_error_that_is_not_an_outage_is_left_as_it_is(postgres_url: str) -> None:
    database = DatabaseUrl.parse(postgres_url)
    health = StoreHealth()
    connector = PostgresConnector(database.conninfo(), database.schema, health=health)
    try:
        with pytest.raises(psycopg.errors.UndefinedTable), connector.read() as cur:
            cur.execute("SELECT * FROM no_such_table")
        assert health.reachable
        connector.ping()
    finally:
        connector.close()


def test_a_sqlite_file_that_cannot_be_opened_is_store_unavailable(tmp_path: Path) -> None:
    folder = tmp_path / "gone"
    folder.mkdir()
    connector = SQLiteConnector(str(folder / "ledgergate.db"))
    folder.rmdir()  # the folder (a volume that went away) is no longer there
    with pytest.raises(StoreUnavailableError):
        connector.ping()
    assert not connector.health.reachable


class SwitchableConnector:
    """A real SQLite connector whose reads fail as an unreachable database's do while ``down``."""

    def __init__(self, inner: SQLiteConnector) -> None:
        self.inner = inner
        self.down = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def read(self) -> Any:
        if self.down:
            raise StoreUnavailableError("the database cannot be reached right now; try again shortly")
        return self.inner.read()


def test_secrets_stay_readable_with_the_key_a_process_had_while_the_database_is_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sqlite = SQLiteConnector(str(tmp_path / "keys.db"))
    apply_migrations(sqlite)
    connector = SwitchableConnector(sqlite)
    cipher = TenantCipher(connector, secrets.token_bytes(32))  # type: ignore[arg-type]
    sealed = cipher.encrypt("acme", "k-123")
    monkeypatch.setattr(tenant_cipher, "CACHE_S", 0.0)  # every use asks the table again
    connector.down = True
    assert cipher.decrypt("acme", sealed) == "k-123"
    with pytest.raises(StoreUnavailableError):  # a tenant whose key this process never had can't be served
        cipher.encrypt("globex", "x")
