"""The links written on append, in SQLite and PostgreSQL: PostgreSQL computes a small batch's links in its insert
statement and a large batch's in Python; both are ``log_chain.link``, whatever the path and its interleaving."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from eventsourcing.persistence import StoredEvent

from ledgergate.api.runtime import Runtime, build_runtime
from ledgergate.application.event_archive import StoredRecord
from ledgergate.application.log_chain import GENESIS_LINK, link
from ledgergate.infrastructure.log_chain_store import LINKED_INSERT_MAX
from ledgergate.infrastructure.settings import Settings


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    runtime = build_runtime(settings, follow=False)
    yield runtime
    runtime.close()


def events(count: int, topic: str = "tests.chain:Appended") -> list[StoredEvent]:
    return [StoredEvent(uuid.uuid4(), 1, topic, f'{{"n":{n},"text":"é\\n"}}'.encode()) for n in range(count)]


def test_batches_of_every_size_and_imports_are_linked_as_the_walk_recomputes(runtime: Runtime) -> None:
    recorder = runtime.registry.recorder
    assert runtime.proof is not None
    start = int(recorder.max_notification_id() or 0)
    written: list[tuple[int, StoredEvent]] = []
    for count in (1, 2, LINKED_INSERT_MAX, LINKED_INSERT_MAX + 1, 3, 2 * LINKED_INSERT_MAX + 5, 1):
        batch = events(count, topic="tests.chain:Appendé")
        ids = recorder.insert_events(batch)
        assert ids is not None and list(ids) == sorted(ids) and len(ids) == count
        written.extend(zip(ids, batch, strict=True))
        if count == 3:  # the import path links its records from Python, in the middle of the others
            imported = [StoredRecord(0, uuid.uuid4(), 1, "tests.chain:Imported", b'{"i":1}') for _ in range(4)]
            with runtime.archive.log.writing() as writer:
                positions = writer.append(imported)
            written.extend(
                (p, StoredEvent(r.stream_id, r.version, r.topic, r.state))
                for p, r in zip(positions, imported, strict=True)
            )
    links = runtime.proof.store.links(start + 1, written[-1][0])
    assert sorted(links) == [p for p, _ in written]
    previous_position = links[written[0][0]][0]  # whatever came before this test, as stored
    previous_link = runtime.proof.store.links(previous_position, previous_position).get(
        previous_position, (0, GENESIS_LINK)
    )[1]
    for position, event in written:
        predecessor, stored = links[position]
        expected = link(previous_link, previous_position, position, event.originator_id, 1, event.topic, event.state)
        assert (predecessor, stored) == (previous_position, expected), position
        previous_position, previous_link = position, stored
    verdict = runtime.proof.verify()
    assert verdict.intact, verdict.finding
    assert verdict.checked >= len(written)
