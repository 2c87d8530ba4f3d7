"""Export, verification and import of the event log as hash-chained JSON Lines.

A file is a header line, one line per event, and a trailer. Each event line carries the stored
bytes of the event exactly as the store holds them (base64; secrets inside stay encrypted), and
``hash = SHA-256(previous hash + canonical JSON of the line without its hash)``, so any edit,
removal or reordering breaks the chain at the first changed line. Since format version 2 the header
is the chain's first link (its own ``hash`` over the header without it), so the tenant keys it may
carry cannot be swapped either; version 1 files (no header hash) are still read. Import never decodes
events: it writes the same bytes through the store, which assigns new positions in file order.

Since version 3 the header names the instance's signing key (Ed25519) and the trailer carries a
signature over itself, final hash included, so only the holder of the private key can produce a
trailer that verifies: a file edited and re-chained fails against the instance's public key. Event
lines then also carry the live log's link at their position (``link``, ``link_prev``), which ties a
file to the instance's signed checkpoints (``application/log_chain.py``).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID

import msgspec

from ledgergate.application.log_chain import GENESIS_LINK, link

__all__ = [
    "FORMAT",
    "ArchiveError",
    "ArchiveReader",
    "EventLog",
    "ExportFilter",
    "LogWriter",
    "SignatureCheck",
    "Signer",
    "StoredRecord",
    "export_lines",
    "trailer_payload",
    "verified_reader",
    "verify_lines",
]

FORMAT = "ledgergate-events"
FORMAT_VERSION = 3
READABLE_VERSIONS = (1, 2, 3)
GENESIS = "0" * 64
BATCH = 1000


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
    tenant_id: str | None = None


class LogWriter(Protocol):
    """Writes inside one transaction of the store: all of it commits, or none of it."""

    def existing(self, records: list[StoredRecord]) -> dict[tuple[UUID, int], tuple[str, bytes]]: ...

    def append(self, records: list[StoredRecord]) -> list[int]: ...

    def abandon(self) -> None:
        """Roll the transaction back when the block ends (a dry run, a conflict)."""
        ...


class EventLog(Protocol):
    """The store's raw records, as the event-store adapter reads and writes them."""

    def read(self, after: int, limit: int) -> list[StoredRecord]: ...

    def read_tenant(self, tenant_id: str, after: int, limit: int) -> list[StoredRecord]:
        """Records of (at least) this tenant's events: a prefilter, callers still check the tenant."""
        ...

    def is_empty(self) -> bool: ...

    def links(self, first: int, last: int) -> dict[int, tuple[int, bytes]]:
        """The live chain's (previous position, link) of the positions from ``first`` to ``last``."""
        ...

    def writing(self) -> AbstractContextManager[LogWriter]: ...


class Signer(Protocol):
    """The instance's signing key."""

    key_id: str
    public_key: str

    def sign(self, data: bytes) -> str: ...


#: ``(public key, data, signature) -> valid?``
SignatureCheck = Callable[[str, bytes, str], bool]


def trailer_payload(trailer: dict[str, Any]) -> bytes:
    """The bytes a trailer's signature covers: the trailer without its signature."""
    return _canonical({k: v for k, v in trailer.items() if k != "signature"})


def _canonical(record: dict[str, Any]) -> bytes:
    return msgspec.json.encode(record, order="sorted")


def _chain(previous: str, record: dict[str, Any]) -> str:
    return hashlib.sha256(previous.encode() + _canonical(record)).hexdigest()


def _envelope_of(state: bytes) -> tuple[str | None, str | None]:
    try:
        decoded = msgspec.json.decode(state, type=_Envelope)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None, None
    stamp = decoded.timestamp
    time = stamp.get("_data_") if isinstance(stamp, dict) else stamp
    return decoded.tenant_id, time if isinstance(time, str) else None


class _Envelope(msgspec.Struct):
    """The two envelope fields export needs; decoding only them skips the payload."""

    tenant_id: str | None = None
    timestamp: Any = None


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
        batch = log.read_tenant(flt.tenant_id, position, BATCH) if flt.tenant_id else log.read(position, BATCH)
        for record in batch:
            if flt.until is not None and record.position > flt.until:
                return
            yield record
        if len(batch) < BATCH:
            return
        position = batch[-1].position


def _with_links(log: EventLog, records: Iterator[StoredRecord]) -> Iterator[tuple[StoredRecord, Any]]:
    """Records with their live link, looked up a batch at a time."""
    batch: list[StoredRecord] = []

    def flush() -> Iterator[tuple[StoredRecord, Any]]:
        found = log.links(batch[0].position, batch[-1].position)
        for record in batch:
            yield record, found.get(record.position)

    for record in records:
        batch.append(record)
        if len(batch) == BATCH:
            yield from flush()
            batch = []
    if batch:
        yield from flush()


def export_lines(
    log: EventLog,
    source: str,
    flt: ExportFilter | None = None,
    keys: dict[str, Any] | None = None,
    signer: Signer | None = None,
) -> Iterator[bytes]:
    """The export file, line by line (memory stays flat in the number of events).

    ``keys`` are wrapped tenant data keys carried in the header; the header is the first link of the
    hash chain, so a key swapped in the header breaks the chain."""
    flt = flt or ExportFilter()
    header: dict[str, Any] = {
        "format": FORMAT,
        "version": FORMAT_VERSION if signer is not None else 2,  # version 3 is a signed file
        "source": source,
        "exported_at": datetime.now(UTC).isoformat(),
        "filters": {
            "tenant": flt.tenant_id,
            "after": flt.after,
            "until": flt.until,
            "since_time": flt.since_time.isoformat() if flt.since_time else None,
            "until_time": flt.until_time.isoformat() if flt.until_time else None,
        },
        "keys": keys or {},
    }
    if signer is not None:
        header["signing"] = {"algorithm": "ed25519", "key_id": signer.key_id, "public_key": signer.public_key}
    previous = _chain(GENESIS, header)
    yield msgspec.json.encode({**header, "hash": previous}) + b"\n"
    count = 0
    encode = msgspec.json.encode
    for record, chain in _with_links(log, _records(log, flt)):
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
        if chain is not None:
            line["link_prev"], line["link"] = chain[0], chain[1].hex()
        previous = _chain(previous, line)
        count += 1
        line["hash"] = previous
        yield encode(line) + b"\n"
    trailer: dict[str, Any] = {"trailer": True, "count": count, "final_hash": previous}
    if signer is not None:
        trailer["signed_by"] = signer.key_id
        trailer["signature"] = signer.sign(trailer_payload(trailer))
    yield encode(trailer) + b"\n"


class ArchiveReader:
    """Reads an export line by line, checking the chain as it goes (memory stays flat).

    The header is checked on construction; ``records()`` raises at the first bad line and, at the
    end, checks the trailer, so a consumer has seen a whole valid file only once it is exhausted."""

    def __init__(
        self,
        lines: Iterable[bytes],
        trusted: dict[str, str] | None = None,
        check: SignatureCheck | None = None,
        check_links: bool = False,
    ) -> None:
        """``trusted``: public keys by key id; given, the file must be signed by one of them (checked with
        ``check``), and an unsigned file is refused before any event is read. ``check_links``: also check the
        live links the lines carry against each other (``_check_link``)."""
        self._lines = ((n, raw) for n, raw in enumerate(lines, start=1) if raw.strip())
        self.trusted, self.check, self.check_links = trusted, check, check_links
        self.header = self._read_header()
        self.count = 0
        #: event lines whose live link was recomputed from the line and the link before it, and matched
        self.links_checked = 0
        self._last_link: tuple[int, bytes] | None = None  # (position, link) of the previous event line, if linked
        #: the first line whose live link does not follow, raised once the file itself proved intact
        self.link_error: ArchiveError | None = None
        #: "unsigned" (versions 1 and 2), "verified" (by a trusted key), "consistent" (with the key the header
        #: names, no trusted key given), "not checked" (no way to check signatures given)
        self.signature = "unsigned" if self.header["version"] < 3 else "not checked"
        self._signing_key(self.header)

    def _signing_key(self, header: dict[str, Any]) -> None:
        signing = header.get("signing")
        if header["version"] >= 3 and not (
            isinstance(signing, dict) and isinstance(signing.get("key_id"), str) and "public_key" in signing
        ):
            raise ArchiveError("a version 3 header names its signing key; this one does not", 1)
        if self.trusted is None:
            return
        if header["version"] < 3:
            raise ArchiveError(
                f"the file is version {header['version']}, unsigned: nothing proves who wrote it (the trusted keys "
                "given accept only signed files)",
                1,
            )
        key_id = signing["key_id"] if isinstance(signing, dict) else None
        if key_id not in self.trusted:
            raise ArchiveError(f"the file is signed by key {key_id}, which is not a trusted key", 1)

    def _check_signature(self, trailer: dict[str, Any], number: int) -> None:
        if self.header["version"] < 3:
            return
        signing = self.header["signing"]
        if not isinstance(trailer.get("signature"), str) or trailer.get("signed_by") != signing["key_id"]:
            raise ArchiveError("the trailer carries no signature by the header's key: it was stripped", number)
        if self.check is None:
            return
        if self.trusted is None:
            # Only consistency: whoever rewrote the file can sign it with a key of their own and name it.
            if not self.check(str(signing["public_key"]), trailer_payload(trailer), trailer["signature"]):
                raise ArchiveError("the signature does not verify even with the key the header names", number)
            self.signature = "consistent"
            return
        if not self.check(self.trusted[signing["key_id"]], trailer_payload(trailer), trailer["signature"]):
            raise ArchiveError(
                f"the signature does not verify with key {signing['key_id']}: the file was altered after it was "
                "signed, or signed by another key",
                number,
            )
        self.signature = "verified"

    def _read_header(self) -> dict[str, Any]:
        first = next(self._lines, None)
        if first is None:
            raise ArchiveError("the file is empty")
        number, raw = first
        line = _decode(raw, number)
        if not isinstance(line, dict) or line.get("format") != FORMAT or line.get("version") not in READABLE_VERSIONS:
            raise ArchiveError(f"not a {FORMAT} header (versions {READABLE_VERSIONS})", number)
        if line["version"] == 1:
            self.previous = GENESIS
            return line
        body = {k: v for k, v in line.items() if k != "hash"}
        if _chain(GENESIS, body) != line.get("hash"):
            raise ArchiveError("the header's hash does not match: the header (or a key in it) was changed", number)
        self.previous = line["hash"]
        return line

    def records(self) -> Iterator[StoredRecord]:
        for number, raw in self._lines:
            line = _decode(raw, number)
            if isinstance(line, dict) and line.get("trailer") is True:
                if line.get("count") != self.count or line.get("final_hash") != self.previous:
                    raise ArchiveError("the trailer's count or final hash does not match the events", number)
                self._check_signature(line, number)
                if next(self._lines, None) is not None:
                    raise ArchiveError("content after the trailer", number + 1)
                if self.link_error is not None:  # after the file's own checks, which say more of a forged file
                    raise self.link_error
                return
            record = _checked_record(line, self.previous, number)
            if self.check_links and self.link_error is None:
                self._check_link(line, record, number)
            self.previous = line["hash"]
            self.count += 1
            yield record
        raise ArchiveError("the trailer is missing: the file was cut short")

    def _check_link(self, line: dict[str, Any], record: StoredRecord, number: int) -> None:
        """A line's live link (``link``, ``link_prev``) recomputed wherever the link it follows is known: the
        line before it is the event it links to (every event of the log, in order, is exported; a filtered
        file has gaps), or it is the chain's first link (from genesis, ``link_prev`` 0). The link the first
        line follows is not in the file, nor is any across a gap: those only ``log verify --export``
        checks against the instance's log. The first line that does not follow is kept in ``link_error``."""
        carried, before = line.get("link"), line.get("link_prev")
        previous, self._last_link = self._last_link, None
        if carried is None and before is None:
            return  # an event without a link (exported before the log was chained)
        try:
            stored = bytes.fromhex(carried) if isinstance(carried, str) else None
        except ValueError:
            stored = None
        if (
            stored is None
            or len(stored) != len(GENESIS_LINK)
            or not isinstance(before, int)
            or isinstance(before, bool)
        ):
            self.link_error = ArchiveError("the line's live link is not a link (64 hex digits) and a position", number)
            return
        self._last_link = (record.position, stored)
        if before == 0:
            previous_link = GENESIS_LINK
        elif previous is not None and previous[0] == before:
            previous_link = previous[1]
        else:
            return
        expected = link(
            previous_link, before, record.position, record.stream_id, record.version, record.topic, record.state
        )
        if stored != expected:
            self.link_error = ArchiveError(
                f"the live link carried for position {record.position} does not follow from the event and the "
                f"link of position {before} before it: the file, or the log it was exported from, was altered",
                number,
            )
            return
        self.links_checked += 1


def _decode(raw: bytes, number: int) -> Any:
    try:
        return msgspec.json.decode(raw)
    except msgspec.DecodeError:
        raise ArchiveError("not JSON", number) from None
    except UnicodeDecodeError:  # msgspec's own exception for bad UTF-8 inside a string
        raise ArchiveError("not valid UTF-8", number) from None
    except RecursionError:  # nesting no export line has
        raise ArchiveError("nested too deeply", number) from None


def verify_lines(
    lines: Iterable[bytes], trusted: dict[str, str] | None = None, check: SignatureCheck | None = None
) -> tuple[dict[str, Any], int]:
    """Check format, header, chain, count and (with ``trusted``) the signature; returns the header and the
    number of events. Raises: ArchiveError."""
    reader = verified_reader(lines, trusted, check)
    return reader.header, reader.count


def verified_reader(
    lines: Iterable[bytes],
    trusted: dict[str, str] | None = None,
    check: SignatureCheck | None = None,
    check_links: bool = False,
) -> ArchiveReader:
    """A reader read to its end: ``signature``, ``count`` and ``links_checked`` tell what it proved.
    Raises: ArchiveError."""
    reader = ArchiveReader(lines, trusted, check, check_links)
    for _ in reader.records():
        pass
    return reader


def _checked_record(line: Any, previous: str, number: int) -> StoredRecord:
    if not isinstance(line, dict) or "hash" not in line:
        raise ArchiveError("not an event line", number)
    body = {k: v for k, v in line.items() if k != "hash"}
    if _chain(previous, body) != line["hash"]:
        raise ArchiveError("the hash chain breaks here: the line was changed, removed or moved", number)
    try:
        tenant = line.get("tenant_id")
        return StoredRecord(
            position=int(line["position"]),
            stream_id=UUID(line["stream_id"]),
            version=int(line["version"]),
            topic=str(line["type"]),
            state=base64.b64decode(line["state"], validate=True),
            tenant_id=tenant if isinstance(tenant, str) else None,
        )
    except (KeyError, ValueError, TypeError):
        raise ArchiveError("an event line lacks a field or has a bad value", number) from None
