"""Signed checkpoints of the live chain, written at intervals, and the walk that verifies the log against them."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from ledgergate.application.log_chain import (
    GENESIS_LINK,
    ChainRow,
    Checkpoint,
    LogVerdict,
    WindowSummary,
    checkpoint_payload,
    intact_from_summaries,
    walk,
)

__all__ = ["CHECKPOINT_EVERY_EVENTS", "CHECKPOINT_EVERY_S", "PARALLEL_FROM", "LogProof", "LogProofStore"]

#: A checkpoint is written once this many events were appended since the last one...
CHECKPOINT_EVERY_EVENTS = 1000
#: ...or this long after the last one, when any event was appended since.
CHECKPOINT_EVERY_S = 60.0
#: A walk over at least this many positions is hashed in windows by other processes, where the store can.
PARALLEL_FROM = 100_000


class LogProofStore(Protocol):
    def head(self) -> tuple[int, bytes] | None:
        """The last link: (position, link)."""
        ...

    def event_head(self) -> int: ...

    def checkpoints(self) -> list[Checkpoint]: ...

    def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Insert it unless one exists at its position (another process wrote it first)."""
        ...

    def rows(self, after: int, stop: int) -> Iterator[ChainRow]: ...

    def window_summaries(self, after: int, stop: int, positions: frozenset[int]) -> Iterator[WindowSummary] | None:
        """The consecutive windows of positions after ``after`` up to ``stop``, each summarized
        (``log_chain.summarize``, reporting the stored links at ``positions``) by another process; None
        when this store cannot."""
        ...

    def links(self, first: int, last: int) -> dict[int, tuple[int, bytes]]: ...


class CheckpointSigner(Protocol):
    key_id: str

    def sign(self, data: bytes) -> str: ...

    def verify(self, data: bytes, signature: str) -> bool: ...


@dataclass
class _Last:
    position: int
    at: float


class LogProof:
    def __init__(
        self,
        store: LogProofStore,
        signer: CheckpointSigner,
        instance: str,
        every_events: int = CHECKPOINT_EVERY_EVENTS,
        every_s: float = CHECKPOINT_EVERY_S,
    ) -> None:
        self.store, self.signer, self.instance = store, signer, instance
        self.every_events, self.every_s = every_events, every_s
        self._last: _Last | None = None
        self._lock = threading.Lock()

    def _signed(self, position: int, chain_link: bytes) -> Checkpoint:
        moment = datetime.now(UTC).isoformat()
        payload = checkpoint_payload(self.instance, position, chain_link, moment, self.signer.key_id)
        return Checkpoint(position, chain_link, moment, self.signer.key_id, self.signer.sign(payload))

    def anchor(self) -> Checkpoint:
        """The first checkpoint, written once: where the chain starts (a log older than the chain starts it
        at its head then; an empty log at 0)."""
        existing = self.store.checkpoints()
        if existing:
            return existing[0]
        head = self.store.head()
        if head is None:
            start = self._signed(self.store.event_head(), GENESIS_LINK)
        else:  # linked before any checkpoint: the chain starts where its first link says
            first = next(self.store.rows(0, head[0]), None)
            start = self._signed(first.previous_position or 0 if first else 0, GENESIS_LINK)
        self.store.add_checkpoint(start)
        return self.store.checkpoints()[0]

    def checkpoint(self) -> Checkpoint | None:
        """Sign the chain's head now (None when nothing was linked since the last checkpoint)."""
        head = self.store.head()
        checkpoints = self.store.checkpoints()
        if head is None or (checkpoints and checkpoints[-1].position >= head[0]):
            return None
        checkpoint = self._signed(*head)
        self.store.add_checkpoint(checkpoint)
        self._last = _Last(head[0], time.monotonic())
        return checkpoint

    def checkpoint_if_due(self, known_head: int | None = None) -> Checkpoint | None:
        """Called after the follower's catch-ups: a checkpoint every ``every_events`` or ``every_s``.
        ``known_head`` (the follower's position) spares the query of the head while nothing is due."""
        with self._lock:
            if self._last is None:
                checkpoints = self.store.checkpoints()
                self._last = _Last(checkpoints[-1].position if checkpoints else 0, time.monotonic())
            if known_head is not None and (
                known_head <= self._last.position
                or (
                    known_head - self._last.position < self.every_events
                    and time.monotonic() - self._last.at < self.every_s
                )
            ):
                return None
            head = self.store.head()
            if head is None or head[0] <= self._last.position:
                return None
            if head[0] - self._last.position < self.every_events and time.monotonic() - self._last.at < self.every_s:
                return None
            return self.checkpoint()

    def _signature_ok(self, checkpoint: Checkpoint) -> bool:
        payload = checkpoint_payload(
            self.instance, checkpoint.position, checkpoint.link, checkpoint.time, checkpoint.key_id
        )
        return checkpoint.key_id == self.signer.key_id and self.signer.verify(payload, checkpoint.signature)

    def verify(self, from_position: int | None = None) -> LogVerdict:
        """Walk the log from the last checkpoint at or before ``from_position`` (default: the first)."""
        checkpoints = self.store.checkpoints()
        if not checkpoints:
            verdict = LogVerdict(start=0)
            verdict.notes.append("no checkpoint: the chain has not been anchored yet (start the gateway once)")
            return verdict
        start = checkpoints[0]
        if from_position is not None:
            start = max(
                (c for c in checkpoints if c.position <= from_position), key=lambda c: c.position, default=start
            )
        head = self.store.head()
        stop = max(head[0] if head else 0, self.store.event_head())
        if stop - start.position >= PARALLEL_FROM:
            # Hashed apart, windows can only say the log is intact; anything else is found by the walk below,
            # which names it exactly as it would have alone.
            positions = frozenset(c.position for c in checkpoints if c.position > start.position)
            summaries = self.store.window_summaries(start.position, stop, positions)
            if summaries is not None:
                intact = intact_from_summaries(summaries, start, checkpoints, self._signature_ok)
                close = getattr(summaries, "close", None)
                if close is not None:
                    close()
                if intact is not None:
                    return intact
        return walk(self.store.rows(start.position, stop), start, checkpoints, self._signature_ok)

    def compare_export(self, lines: list[dict[str, Any]]) -> list[int]:
        """Positions of an export's event lines whose link differs from the store's at that position."""
        differing: list[int] = []
        for index in range(0, len(lines), 1000):
            batch = lines[index : index + 1000]
            found = self.store.links(batch[0]["position"], batch[-1]["position"])
            for line in batch:
                stored = found.get(line["position"])
                if stored is None or stored[1].hex() != line.get("link") or stored[0] != line.get("link_prev"):
                    differing.append(line["position"])
        return differing
