"""Importing an export (one transaction, per-tenant report) and the service the API and the CLI use."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ledgergate.application.archive_keys import KeyTransport, KeyTransportError, key_statuses, plan_keys
from ledgergate.application.audit import Point
from ledgergate.application.errors import ValidationError
from ledgergate.application.event_archive import (
    BATCH,
    ArchiveError,
    ArchiveReader,
    EventLog,
    ExportFilter,
    SignatureCheck,
    Signer,
    StoredRecord,
    export_lines,
)
from ledgergate.domain.envelope import Envelope

PLATFORM = "_platform"

__all__ = ["MAX_CONFLICTS", "ArchiveService", "ImportReport", "import_records"]


@dataclass
class ImportReport:
    mode: str = "restore"
    imported: int = 0
    skipped: int = 0
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    positions: tuple[int, int] | None = None
    dry_run: bool = False
    tenants: dict[str, dict[str, int]] = field(default_factory=dict)


#: A merge stops listing conflicts after this many (it writes nothing once there is one).
MAX_CONFLICTS = 100


def _batches(records: Iterable[StoredRecord], size: int) -> Iterator[list[StoredRecord]]:
    batch: list[StoredRecord] = []
    for record in records:
        batch.append(record)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _conflict(record: StoredRecord) -> dict[str, Any]:
    return {
        "stream_id": str(record.stream_id),
        "version": record.version,
        "type": record.topic,
        "tenant_id": record.tenant_id,
        "source_position": record.position,
    }


def import_records(log: EventLog, records: Iterable[StoredRecord], dry_run: bool = False) -> ImportReport:
    """Restore into an empty store, or merge: identical events are skipped, any other clash rolls back.

    Everything is written in one transaction of the store, so a file that turns out broken at its
    last line, or clashes anywhere, leaves the store as it was. Raises: ArchiveError."""
    report = ImportReport(mode="restore" if log.is_empty() else "merge", dry_run=dry_run)
    first: int | None = None
    last: int | None = None
    with log.writing() as writer:
        for batch in _batches(records, BATCH):
            present = writer.existing(batch) if report.mode == "merge" else {}
            fresh: list[StoredRecord] = []
            for record in batch:
                counts = report.tenants.setdefault(record.tenant_id or "(none)", {"imported": 0, "skipped": 0})
                found = present.get((record.stream_id, record.version))
                if found is None:
                    fresh.append(record)
                    counts["imported"] += 1
                elif found == (record.topic, record.state):
                    report.skipped += 1
                    counts["skipped"] += 1
                elif len(report.conflicts) < MAX_CONFLICTS:
                    report.conflicts.append(_conflict(record))
            report.imported += len(fresh)
            if fresh and not report.conflicts and not dry_run:
                written = writer.append(fresh)
                first = written[0] if first is None else first
                last = written[-1]
        if report.conflicts or dry_run:
            writer.abandon()
    if report.conflicts:
        report.imported = 0
        for counts in report.tenants.values():
            counts["imported"] = 0
    elif first is not None and last is not None:
        report.positions = (first, last)
    return report


def export_range(start: Point | None, end: Point | None) -> dict[str, Any]:
    """Inclusive bounds, each a log position or a time, as ``ArchiveService.export`` filters."""
    found: dict[str, Any] = {}
    if start is not None:
        found.update({"after": start.position - 1} if start.position is not None else {"since_time": start.time})
    if end is not None:
        found.update({"until": end.position} if end.position is not None else {"until_time": end.time})
    return found


class ArchiveService:
    """Export, verify and import for the API and the CLI."""

    def __init__(
        self,
        log: EventLog,
        source: str,
        on_imported: Any = None,
        keys: KeyTransport | None = None,
        signer: Signer | None = None,
        trusted: dict[str, str] | None = None,
        check: SignatureCheck | None = None,
        record: Callable[[Envelope, str, str, dict[str, Any]], Any] | None = None,
    ) -> None:
        """``signer`` signs exports; ``trusted`` (keys by id), when configured, is what an import must be
        signed by, checked with ``check``; ``record(envelope, tenant, what, fields)`` appends a custody event."""
        self.log = log
        self.source = source
        self.on_imported = on_imported
        self.keys = keys
        self.signer, self.trusted, self.check, self.record = signer, trusted, check, record

    def export(
        self,
        tenant_id: str | None = None,
        after: int = 0,
        until: int | None = None,
        with_keys: bool = False,
        passphrase: str | None = None,
        since_time: datetime | None = None,
        until_time: datetime | None = None,
    ) -> Iterator[bytes]:
        """Events after position ``after`` up to ``until`` (inclusive), recorded between ``since_time`` and
        ``until_time``. Raises: KeyTransportError (keys asked without a tenant or passphrase, or shredded)."""
        wrapped: dict[str, Any] = {}
        if with_keys:
            if tenant_id is None:
                raise KeyTransportError("a data key is exported only with one tenant's events: name the tenant")
            if not passphrase:
                raise KeyTransportError("a data key is exported only wrapped with a passphrase: give one")
            if self.keys is None:
                raise KeyTransportError("this instance cannot export keys")
            wrapped = {tenant_id: self.keys.wrap(tenant_id, passphrase)}
        flt = ExportFilter(tenant_id=tenant_id, after=after, until=until, since_time=since_time, until_time=until_time)
        return export_lines(self.log, self.source, flt, wrapped, self.signer)

    def import_lines(
        self, lines: Iterable[bytes], dry_run: bool = False, passphrase: str | None = None, actor: str = "cli"
    ) -> dict[str, Any]:
        """Verify while writing in one transaction; keys are opened first. With trusted keys configured, a
        file not signed by one of them is refused. A write is recorded as a custody event naming the
        exporter (instance and signing key) and the importer (this instance and ``actor``). Raises:
        ArchiveError, KeyTransportError (nothing is written)."""
        reader = ArchiveReader(lines, self.trusted, self.check)
        plan = plan_keys(reader.header, self.keys, passphrase)
        report = import_records(self.log, reader.records(), dry_run)
        if not report.conflicts and not dry_run:
            for key in plan.install:
                self.keys.install(key)  # type: ignore[union-attr]  # plan.install is empty without a transport
        if report.imported and not dry_run and self.record is not None:
            signing = reader.header.get("signing") or {}
            self.record(
                Envelope(PLATFORM, actor, f"import:{uuid.uuid4()}", "events-import"),
                PLATFORM,
                "export_imported",
                {
                    "exporter": reader.header.get("source"),
                    "signing_key": signing.get("key_id") if isinstance(signing, dict) else None,
                    "signature": reader.signature,
                    "importer": f"{self.source} ({actor})",
                    "imported": report.imported,
                    "skipped": report.skipped,
                },
            )
        if report.imported and not dry_run and self.on_imported is not None:
            self.on_imported()
        tenants = sorted(set(report.tenants) | set(reader.header.get("keys") or {}))
        secrets = key_statuses(tenants, plan, self.keys, applied=not report.conflicts and not dry_run)
        return {
            "source": reader.header.get("source"),
            "signature": reader.signature,
            "filters": reader.header.get("filters"),
            "mode": report.mode,
            "dry_run": dry_run,
            "imported": report.imported,
            "skipped": report.skipped,
            "conflicts": report.conflicts,
            "positions": report.positions,
            "tenants": {
                t: {**report.tenants.get(t, {"imported": 0, "skipped": 0}), "secrets": secrets[t]} for t in tenants
            },
        }

    def import_bytes(
        self, body: bytes, dry_run: bool = False, passphrase: str | None = None, actor: str = "api"
    ) -> dict[str, Any]:
        try:
            return self.import_lines(body.splitlines(), dry_run, passphrase, actor)
        except ArchiveError as exc:
            raise ValidationError(f"the file is not a valid export: {exc}", line=exc.line) from None
