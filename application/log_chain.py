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
from typing import Any, NamedTuple
from uuid import UUID

import msgspec

__all__ = [
    "GENESIS_LINK",
    "ChainRow",
    "Checkpoint",
    "Finding",
    "LogVerdict",
    "WindowSummary",
    "checkpoint_payload",
    "intact_from_summaries",
    "link",
    "summarize",
    "walk",
]

GENESIS_LINK = bytes(32)
_sha256 = hashlib.sha256
_HEAD = struct.Struct(">qqqI")  # previous position, position, version, length of the stream id


def _stream_bytes(stream_id: Any) -> bytes:
    if isinstance(stream_id, UUID):
        return stream_id.bytes
    if isinstance(stream_id, bytes):
        return stream_id
    return str(stream_id).encode()


def link(
    previous: bytes,
    previous_position: int,
    position: int,
    stream_id: Any,
    version: int,
    topic: str | bytes,
    state: bytes,
) -> bytes:
    """The link of the event at ``position`` following the one at ``previous_position``: SHA-256 of the previous
    link, the two positions, the version, the stream id (length-prefixed), the topic (UTF-8) and a newline, the
    bytes."""
    stream = _stream_bytes(stream_id)
    return _sha256(
        b"".join(
            (
                previous,
                _HEAD.pack(previous_position, position, version, len(stream)),
                stream,
                topic if isinstance(topic, bytes) else topic.encode(),
                b"\n",
                state,
            )
        )
    ).digest()


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


class ChainRow(NamedTuple):
    """One position as the store holds it: the event (None if only its link is left) and its link row
    (None if the event has no link: it was inserted past the store). A tuple: verifying makes millions, and
    a store may yield plain tuples of the same fields (the stream id and topic already as the bytes hashed)."""

    position: int
    stream_id: Any = None
    version: int = 0
    topic: str | bytes = ""
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

    def found(checked: int, last: int, position: int, what: str, detail: str) -> LogVerdict:
        verdict.checked, verdict.last_position = checked, last
        verdict.finding = Finding(position, what, detail, covering(position))
        return verdict

    # The loop is kept lean (locals bound, tuple unpacking, the link's hashing inlined, the next checkpoint's
    # position in a local, the counts written once at the end): ``log verify`` walks every event of the log.
    sha256, pack, join, newline = _sha256, _HEAD.pack, b"".join, b"\n"
    next_at = ahead[0].position if ahead else -1
    checked = 0
    for row in rows:
        position, stream_id, version, topic, state, linked_to, stored = row
        if 0 <= next_at < position:
            return found(checked, previous_position, next_at, "removed", "the checkpointed event and its link are gone")
        if state is None:
            return found(checked, previous_position, position, "removed", "its link is stored but the event is gone")
        if stored is None:
            return found(
                checked, previous_position, position, "inserted", "the event has no link: it was written past the store"
            )
        if linked_to != previous_position:
            if (linked_to or 0) > previous_position:
                return found(
                    checked,
                    previous_position,
                    linked_to or 0,
                    "removed",
                    f"position {position} links to it, but it is gone (with its link); the last intact "
                    f"position is {previous_position}",
                )
            return found(
                checked,
                previous_position,
                previous_position,
                "inserted",
                f"position {position} links to {linked_to}, not to it",
            )
        if stream_id.__class__ is not bytes:
            stream_id = _stream_bytes(stream_id)
        if not isinstance(topic, bytes):
            topic = topic.encode()
        # link(), inlined: a call per event is a tenth of the walk
        computed = sha256(
            join(
                (
                    previous_link,
                    pack(previous_position, position, version, len(stream_id)),
                    stream_id,
                    topic,
                    newline,
                    state,
                )
            )
        ).digest()
        if computed != stored:
            return found(checked, previous_position, position, "changed", "the event no longer matches its link")
        if position == next_at:
            if computed != ahead[index].link:
                return found(
                    checked,
                    previous_position,
                    verdict.last_checkpoint.position + 1 if verdict.last_checkpoint else start.position + 1,
                    "rewritten",
                    f"the events and their links up to position {position} agree with each other but not with "
                    "the signed checkpoint: they were rewritten (links recomputed) at or after this position",
                )
            verdict.checkpoints += 1
            verdict.last_checkpoint = ahead[index]
            index += 1
            next_at = ahead[index].position if index < len(ahead) else -1
        previous_position, previous_link = position, computed
        checked += 1
    verdict.checked, verdict.last_position = checked, previous_position
    if index < len(ahead):
        return found(
            checked,
            previous_position,
            ahead[index].position,
            "removed",
            "the log ends before this checkpointed position",
        )
    return verdict


@dataclass(frozen=True)
class WindowSummary:
    """What a walk needs of one window of rows that another process read and hashed (``summarize``).

    ``clean``: every row has its event and its link, and every row after the first links to the row before
    it and matches its link. The first row is kept whole: only the previous window's last link checks it."""

    count: int
    clean: bool
    first: tuple[Any, ...] | None = None
    last_position: int = 0
    last_link: bytes = b""
    at: dict[int, bytes] = field(default_factory=dict)  # the stored links at the positions asked for


def summarize(rows: Iterable[ChainRow], positions: frozenset[int]) -> WindowSummary:
    """One window's ``WindowSummary``; ``positions`` are the checkpoints' whose stored links it reports."""
    sha256, pack, join, newline = _sha256, _HEAD.pack, b"".join, b"\n"
    first: tuple[Any, ...] | None = None
    previous_position, previous_link = 0, b""
    at: dict[int, bytes] = {}
    count = 0
    for row in rows:
        position, stream_id, version, topic, state, linked_to, stored = row
        if state is None or stored is None:
            return WindowSummary(count, False)
        if first is None:
            first = tuple(row)
        else:
            if linked_to != previous_position:
                return WindowSummary(count, False)
            if stream_id.__class__ is not bytes:
                stream_id = _stream_bytes(stream_id)
            if not isinstance(topic, bytes):
                topic = topic.encode()
            # link(), inlined as in walk()
            computed = sha256(
                join(
                    (
                        previous_link,
                        pack(previous_position, position, version, len(stream_id)),
                        stream_id,
                        topic,
                        newline,
                        state,
                    )
                )
            ).digest()
            if computed != stored:
                return WindowSummary(count, False)
        if position in positions:
            at[position] = stored
        previous_position, previous_link = position, stored
        count += 1
    return WindowSummary(count, True, first, previous_position, previous_link, at)


def intact_from_summaries(
    summaries: Iterable[WindowSummary],
    start: Checkpoint,
    checkpoints: list[Checkpoint],
    signature_ok: Callable[[Checkpoint], bool],
) -> LogVerdict | None:
    """The verdict ``walk`` gives an intact log, from the summaries of its consecutive windows after ``start``;
    None as soon as anything is off (a window not clean, a seam that does not link, a checkpoint unmatched or
    not signed), for ``walk`` to find and name it. Each row's link depends only on its own fields and the
    link stored before it, so windows can be hashed apart and joined at their seams."""
    ahead = sorted((c for c in checkpoints if c.position > start.position), key=lambda c: c.position)
    if not all(signature_ok(c) for c in [start, *ahead]):
        return None
    previous_position, previous_link = start.position, start.link
    checked = 0
    found: dict[int, bytes] = {}
    for summary in summaries:
        if not summary.clean:
            return None
        if summary.first is None:
            continue
        position, stream_id, version, topic, state, linked_to, stored = summary.first
        if linked_to != previous_position:
            return None
        if link(previous_link, previous_position, position, stream_id, version, topic, state) != stored:
            return None
        found.update(summary.at)
        checked += summary.count
        previous_position, previous_link = summary.last_position, summary.last_link
    if any(found.get(c.position) != c.link for c in ahead):
        return None
    return LogVerdict(
        start=start.position,
        checked=checked,
        last_position=previous_position,
        checkpoints=len(ahead),
        last_checkpoint=ahead[-1] if ahead else None,
    )
