"""Our PostgreSQL recorder with the tenant index, against a real database.

The index expression is computed on every insert, so it must accept any bytes (states that are not
JSON, or lack a tenant) and must not change what the recorder stores and returns. (The library's own
recorder suite, ``eventsourcing.tests.persistence``, needs pycryptodome, which is not a dependency.)
"""

from __future__ import annotations

from types import SimpleNamespace
from uuid import uuid4

import pytest
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresDatastore

from ledgergate.infrastructure.eventstore import TenantIndexedPostgresRecorder
from ledgergate.infrastructure.settings import DatabaseUrl
from ledgergate.infrastructure.stored_records import StoreEventLog

pytestmark = pytest.mark.postgres


def test_the_index_finds_a_tenants_events_and_tolerates_bytes_without_a_tenant(postgres_url: str) -> None:
    database = DatabaseUrl.parse(postgres_url)
    datastore = PostgresDatastore(
        database.dbname, database.host, database.port, database.user, database.password, schema=database.schema or ""
    )
    try:
        recorder = TenantIndexedPostgresRecorder(datastore, events_table_name="registry_events")
        recorder.create_table()
        states = [
            b'{"timestamp":1,"tenant_id":"acme","fields":{"tenant_id":"globex"}}',
            b'{"timestamp":2,"tenant_id":"globex","fields":{"x":{"tenant_id":"acme"}}}',
            b"\x00\x01 not json, no quote",
            b'{"tenant_id":"',
        ]
        recorder.insert_events([StoredEvent(uuid4(), 1, "t", state) for state in states])
        assert [n.state for n in recorder.select_notifications(start=None, limit=10)] == states
        log = StoreEventLog(SimpleNamespace(recorder=recorder))  # type: ignore[arg-type]
        assert [r.state for r in log.read_tenant("acme", 0, 10)] == [states[0]]
        assert [r.state for r in log.read_tenant("globex", 0, 10)] == [states[1]]
        with datastore.transaction(commit=False) as curs:
            curs.execute("SELECT indexname FROM pg_indexes WHERE schemaname = %s", (datastore.schema,))
            assert "registry_events_tenant_idx" in {row["indexname"] for row in curs.fetchall()}
    finally:
        datastore.close()
