"""Export, verification and import of the event log as hash-chained JSON Lines.

A file is a header line, one line per event, and a trailer. Each event line carries the stored
bytes of the event exactly as the store holds them (base64; secrets inside stay encrypted), and
``hash = SHA-256(previous hash + canonical JSON of the line without its hash)``, so any edit,
removal or reordering breaks the chain at the first changed line. Import never decodes events: it
writes the same bytes through the store, which assigns new positions in file order.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID

import msgspec

from application.errors import ValidationError

__all__ = [
    "FORMAT",
    "ArchiveError",
    "ArchiveService",
    "EventLog",
    "ExportFilter",
    "ImportReport",
    "StoredRecord",
    "export_lines",
    "import_records",
    "verify_lines",
]

FORMAT = "ledgergate-events"
FORMAT_VERSION = 1
GENESIS = "0" * 64
BATCH = 500


class ArchiveError(Exception):
    """The file is not a valid export; ``line`` is the first bad line (1-based) when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(f"line {line}: {message}" if line else message)
        self.line = line


@dataclass(frozen=True)
class StoredRecord:
    position: int
    stream_id: UUID
    version: int
    topic: str
    state: bytes


class EventLog(Protocol):
    """The store's raw records, as the event-store adapter reads and writes them."""

    def read(self, after: int, limit: int) -> list[StoredRecord]: ...

    def existing(self, stream_id: UUID, version: int) -> StoredRecord | None: ...

    def append(self, records: list[StoredRecord]) -> list[int]: ...


def _canonical(record: dict[str, Any]) -> bytes:
    return msgspec.json.encode(record, order="sorted")


def _chain(previous: str, record: dict[str, Any]) -> str:
    return hashlib.sha256(previous.encode() + _canonical(record)).hexdigest()


def _envelope_of(state: bytes) -> tuple[str | None, str | None]:
    try:
        decoded = msgspec.json.decode(state)
    except msgspec.DecodeError:
        return None, None
    stamp = decoded.get("timestamp")
    time = stamp.get("_data_") if isinstance(stamp, dict) else stamp
    return decoded.get("tenant_id"), time if isinstance(time, str) else None


@dataclass(frozen=True)
class ExportFilter:
    tenant_id: str | None = None
    after: int = 0
    until: int | None = None
    since_time: datetime | None = None
    until_time: datetime | None = None

    def keeps(self, record: StoredRecord, tenant: str | None, time: str | None) -> bool:
        if self.tenant_id is not None and tenant != self.tenant_id:
            return False
        if time is not None and (self.since_time or self.until_time):
            moment = datetime.fromisoformat(time)
            if (self.since_time and moment < self.since_time) or (self.until_time and moment > self.until_time):
                return False
        return True


def _records(log: EventLog, flt: ExportFilter) -> Iterator[StoredRecord]:
    position = flt.after
    while True:
        batch = log.read(position, BATCH)
        for record in batch:
            if flt.until is not None and record.position > flt.until:
                return
            yield record
        if len(batch) < BATCH:
            return
        position = batch[-1].position


def export_lines(log: EventLog, source: str, flt: ExportFilter | None = None) -> Iterator[bytes]:
    """The export file, line by line (memory stays flat in the number of events)."""
    flt = flt or ExportFilter()
    header = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "source": source,
        "exported_at": datetime.now(UTC).isoformat(),
        "filters": {
            "tenant": flt.tenant_id,
            "after": flt.after,
            "until": flt.until,
            "since_time": flt.since_time.isoformat() if flt.since_time else None,
            "until_time": flt.until_time.isoformat() if flt.until_time else None,
        },
    }
    yield msgspec.json.encode(header) + b"\n"
    previous, count = GENESIS, 0
    for record in _records(log, flt):
        tenant, time = _envelope_of(record.state)
        if not flt.keeps(record, tenant, time):
            continue
        line = {
            "position": record.position,
            "stream_id": str(record.stream_id),
            "version": record.version,
            "type": record.topic,
            "tenant_id": tenant,
            "time": time,
            "state": base64.b64encode(record.state).decode(),
        }
        previous = _chain(previous, line)
        count += 1
        yield msgspec.json.encode({**line, "hash": previous}) + b"\n"
    yield msgspec.json.encode({"trailer": True, "count": count, "final_hash": previous}) + b"\n"


def verify_lines(lines: Iterable[bytes]) -> tuple[dict[str, Any], list[StoredRecord]]:
    """Check format, chain and count; returns the header and the records. Raises: ArchiveError."""
    header: dict[str, Any] | None = None
    records: list[StoredRecord] = []
    previous = GENESIS
    trailer: dict[str, Any] | None = None
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        if trailer is not None:
            raise ArchiveError("content after the trailer", number)
        try:
            line = msgspec.json.decode(raw)
        except msgspec.DecodeError:
            raise ArchiveError("not JSON", number) from None
        if header is None:
            if not isinstance(line, dict) or line.get("format") != FORMAT or line.get("version") != FORMAT_VERSION:
                raise ArchiveError(f"not a {FORMAT} v{FORMAT_VERSION} header", number)
            header = line
            continue
        if isinstance(line, dict) and line.get("trailer") is True:
            trailer = line
            if line.get("count") != len(records) or line.get("final_hash") != previous:
                raise ArchiveError("the trailer's count or final hash does not match the events", number)
            continue
        records.append(_checked_record(line, previous, number))
        previous = line["hash"]
    if header is None:
        raise ArchiveError("the file is empty")
    if trailer is None:
        raise ArchiveError("the trailer is missing: the file was cut short")
    return header, records


def _checked_record(line: Any, previous: str, number: int) -> StoredRecord:
    if not isinstance(line, dict) or "hash" not in line:
        raise ArchiveError("not an event line", number)
    body = {k: v for k, v in line.items() if k != "hash"}
    if _chain(previous, body) != line["hash"]:
        raise ArchiveError("the hash chain breaks here: the line was changed, removed or moved", number)
    try:
        return StoredRecord(
            position=int(line["position"]),
            stream_id=UUID(line["stream_id"]),
            version=int(line["version"]),
            topic=str(line["type"]),
            state=base64.b64decode(line["state"], validate=True),
        )
    except (KeyError, ValueError, TypeError):
        raise ArchiveError("an event line lacks a field or has a bad value", number) from None


@dataclass
class ImportReport:
    mode: str = "restore"
    imported: int = 0
    skipped: int = 0
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    positions: tuple[int, int] | None = None
    dry_run: bool = False


def import_records(log: EventLog, records: list[StoredRecord], dry_run: bool = False) -> ImportReport:
    """Restore into an empty store, or merge: identical events are skipped, any other clash aborts
    before anything is written."""
    report = ImportReport(mode="restore" if not log.read(0, 1) else "merge", dry_run=dry_run)
    fresh: list[StoredRecord] = []
    for record in records:
        present = log.existing(record.stream_id, record.version) if report.mode == "merge" else None
        if present is None:
            fresh.append(record)
        elif (present.topic, present.state) == (record.topic, record.state):
            report.skipped += 1
        else:
            report.conflicts.append(
                {
                    "stream_id": str(record.stream_id),
                    "version": record.version,
                    "type": record.topic,
                    "source_position": record.position,
                }
            )
    if report.conflicts or dry_run:
        report.imported = 0 if report.conflicts else len(fresh)
        return report
    positions: list[int] = []
    for start in range(0, len(fresh), BATCH):
        positions += log.append(fresh[start : start + BATCH])
    report.imported = len(fresh)
    report.positions = (positions[0], positions[-1]) if positions else None
    return report


class ArchiveService:
    """Export, verify and import for the API and the CLI."""

    def __init__(self, log: EventLog, source: str, on_imported: Any = None) -> None:
        self.log = log
        self.source = source
        self.on_imported = on_imported

    def export(self, tenant_id: str | None = None, after: int = 0, until: int | None = None) -> Iterator[bytes]:
        return export_lines(self.log, self.source, ExportFilter(tenant_id=tenant_id, after=after, until=until))

    def import_lines(self, lines: Iterable[bytes], dry_run: bool = False) -> dict[str, Any]:
        """Raises: ArchiveError (nothing is written)."""
        header, records = verify_lines(lines)
        report = import_records(self.log, records, dry_run)
        if report.imported and not dry_run and self.on_imported is not None:
            self.on_imported()
        return {
            "source": header.get("source"),
            "filters": header.get("filters"),
            "mode": report.mode,
            "dry_run": dry_run,
            "imported": report.imported,
            "skipped": report.skipped,
            "conflicts": report.conflicts,
            "positions": report.positions,
            "secrets": "encrypted with the source's tenant keys; readable here only if this instance has them",
        }

    def import_bytes(self, body: bytes, dry_run: bool = False) -> dict[str, Any]:
        try:
            return self.import_lines(body.splitlines(), dry_run)
        except ArchiveError as exc:
            raise ValidationError(f"the file is not a valid export: {exc}", line=exc.line) from None
