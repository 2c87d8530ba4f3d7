"""The live log's hash chain and its signed checkpoints: how a link is computed and how a walk is judged.

Every stored event has a link: ``SHA-256(previous link, previous position, position, stream id, version,
topic, stored bytes)``, over the instance's global order. The store writes it in the transaction that
appends the event, under the same lock, so two writers can never link to the same predecessor. Links
alone only prove the rows agree with each other (whoever can write rows can recompute them); a
checkpoint is a link signed with the instance's Ed25519 key, which never enters the database, so a
rewrite cannot reach back past the last checkpoint unnoticed.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import msgspec

__all__ = [
    "GENESIS_LINK",
    "ChainRow",
    "Checkpoint",
    "Finding",
    "LogVerdict",
    "checkpoint_payload",
    "link",
    "walk",
]

GENESIS_LINK = bytes(32)
_PAIR = struct.Struct(">qq")
_VERSION = struct.Struct(">q")


def _stream_bytes(stream_id: Any) -> bytes:
    if isinstance(stream_id, UUID):
        return stream_id.bytes
    if isinstance(stream_id, bytes):
        return stream_id
    return str(stream_id).encode()


def link(
    previous: bytes, previous_position: int, position: int, stream_id: Any, version: int, topic: str, state: bytes
) -> bytes:
    """The link of the event at ``position`` following the one at ``previous_position``."""
    digest = hashlib.sha256(previous)
    digest.update(_PAIR.pack(previous_position, position))
    digest.update(_stream_bytes(stream_id))
    digest.update(_VERSION.pack(version))
    digest.update(topic.encode())
    digest.update(b"\n")
    digest.update(state)
    return digest.digest()


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement: the chain's link at ``position`` was ``link`` at ``time``."""

    position: int
    link: bytes
    time: str
    key_id: str
    signature: str

    def describe(self) -> str:
        return f"the checkpoint at position {self.position} (signed {self.time}, key {self.key_id})"


def checkpoint_payload(instance: str, position: int, chain_link: bytes, time: str, key_id: str) -> bytes:
    """The bytes a checkpoint's signature covers."""
    return msgspec.json.encode(
        {
            "kind": "ledgergate-checkpoint/1",
            "instance": instance,
            "position": position,
            "link": chain_link.hex(),
            "time": time,
            "key_id": key_id,
        },
        order="sorted",
    )


@dataclass(frozen=True)
class ChainRow:
    """One position as the store holds it: the event (None if only its link is left) and its link row
    (None if the event has no link: it was inserted past the store)."""

    position: int
    stream_id: Any = None
    version: int = 0
    topic: str = ""
    state: bytes | None = None
    previous_position: int | None = None
    link: bytes | None = None


@dataclass(frozen=True)
class Finding:
    position: int
    what: str  # "changed", "removed", "inserted", "rewritten", "forged checkpoint"
    detail: str
    contradicts: Checkpoint | None

    def describe(self) -> str:
        against = (
            f"; it contradicts {self.contradicts.describe()}"
            if self.contradicts is not None
            else "; no checkpoint covers it yet (it is after the last one)"
        )
        return f"position {self.position}: {self.what}: {self.detail}{against}"


@dataclass
class LogVerdict:
    start: int  # verified from the position after this one
    checked: int = 0
    last_position: int = 0
    checkpoints: int = 0  # checkpoints whose link was reached and matched
    last_checkpoint: Checkpoint | None = None
    finding: Finding | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return self.finding is None


def walk(
    rows: Iterable[ChainRow],
    start: Checkpoint,
    checkpoints: list[Checkpoint],
    signature_ok: Callable[[Checkpoint], bool],
) -> LogVerdict:
    """Check every link after ``start`` (itself a checkpoint) against the events and the checkpoints.

    Stops at the first finding, naming the first checkpoint at or after it: the one a rewrite would
    have to forge."""
    ahead = sorted((c for c in checkpoints if c.position > start.position), key=lambda c: c.position)
    verdict = LogVerdict(start=start.position, last_position=start.position)
    for checkpoint in [start, *ahead]:
        if not signature_ok(checkpoint):
            verdict.finding = Finding(
                checkpoint.position, "forged checkpoint", "its signature does not verify with the instance key", None
            )
            return verdict
    previous_position, previous_link = start.position, start.link
    index = 0

    def covering(position: int) -> Checkpoint | None:
        return next((c for c in ahead[index:] if c.position >= position), None)

    def found(position: int, what: str, detail: str) -> LogVerdict:
        verdict.finding = Finding(position, what, detail, covering(position))
        return verdict

    for row in rows:
        if index < len(ahead) and ahead[index].position < row.position:
            return found(ahead[index].position, "removed", "the checkpointed event and its link are gone")
        if row.state is None:
            return found(row.position, "removed", "its link is stored but the event is gone")
        if row.link is None:
            return found(row.position, "inserted", "the event has no link: it was written past the store")
        if row.previous_position != previous_position:
            if (row.previous_position or 0) > previous_position:
                return found(
                    row.previous_position or 0,
                    "removed",
                    f"position {row.position} links to it, but it is gone (with its link); the last intact "
                    f"position is {previous_position}",
                )
            return found(
                previous_position, "inserted", f"position {row.position} links to {row.previous_position}, not to it"
            )
        computed = link(
            previous_link, previous_position, row.position, row.stream_id, row.version, row.topic, row.state
        )
        if computed != row.link:
            return found(row.position, "changed", "the event no longer matches its link")
        if index < len(ahead) and ahead[index].position == row.position:
            if computed != ahead[index].link:
                return found(
                    verdict.last_checkpoint.position + 1 if verdict.last_checkpoint else start.position + 1,
                    "rewritten",
                    f"the events and their links up to position {row.position} agree with each other but not with "
                    "the signed checkpoint: they were rewritten (links recomputed) at or after this position",
                )
            verdict.checkpoints += 1
            verdict.last_checkpoint = ahead[index]
            index += 1
        previous_position, previous_link = row.position, computed
        verdict.checked += 1
        verdict.last_position = row.position
    if index < len(ahead):
        return found(ahead[index].position, "removed", "the log ends before this checkpointed position")
    return verdict
