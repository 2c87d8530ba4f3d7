"""Checkpoints at intervals, signed, on an in-memory store of links (a fake of the port)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ledgergate.application.log_chain import GENESIS_LINK, ChainRow, Checkpoint, link
from ledgergate.application.log_proof import LogProof
from ledgergate.infrastructure.crypto.signing import SigningKey


class MemoryLinks:
    def __init__(self) -> None:
        self.chained: list[ChainRow] = []
        self.saved: dict[int, Checkpoint] = {}

    def append(self, n: int) -> None:
        for _ in range(n):
            position = len(self.chained) + 1
            previous = self.chained[-1] if self.chained else None
            chained = link(previous.link if previous else GENESIS_LINK, position - 1, position, "s", 1, "t", b"x")  # type: ignore[arg-type]
            self.chained.append(ChainRow(position, "s", 1, "t", b"x", position - 1, chained))

    def head(self) -> tuple[int, bytes] | None:
        return (self.chained[-1].position, self.chained[-1].link) if self.chained else None  # type: ignore[return-value]

    def event_head(self) -> int:
        return len(self.chained)

    def checkpoints(self) -> list[Checkpoint]:
        return [self.saved[p] for p in sorted(self.saved)]

    def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        self.saved.setdefault(checkpoint.position, checkpoint)

    def rows(self, after: int, stop: int) -> Iterator[ChainRow]:
        return (r for r in self.chained if after < r.position <= stop)

    def links(self, first: int, last: int) -> dict[int, tuple[int, bytes]]:
        return {r.position: (r.previous_position, r.link) for r in self.chained if first <= r.position <= last}  # type: ignore[misc]


def proof_over(store: MemoryLinks, tmp_path: Path, every_events: int = 10, every_s: float = 3600) -> LogProof:
    return LogProof(store, SigningKey(tmp_path), "lg-test", every_events=every_events, every_s=every_s)


def test_checkpoints_come_every_n_events_and_verify_with_the_instance_key(tmp_path: Path) -> None:
    store = MemoryLinks()
    proof = proof_over(store, tmp_path)
    assert proof.anchor().position == 0
    store.append(9)
    assert proof.checkpoint_if_due(9) is None and proof.checkpoint_if_due() is None
    store.append(1)
    assert proof.checkpoint_if_due(10) is not None and proof.checkpoint_if_due(10) is None
    store.append(25)
    assert proof.checkpoint_if_due(35) is not None
    verdict = proof.verify()
    assert verdict.intact and verdict.checkpoints == 2 and verdict.last_checkpoint.position == 35  # type: ignore[union-attr]
    other = proof_over(store, tmp_path / "other")  # another key: every checkpoint reads as forged
    assert other.verify().finding.what == "forged checkpoint"  # type: ignore[union-attr]


def test_a_quiet_log_gets_a_checkpoint_once_the_interval_passed(tmp_path: Path) -> None:
    store = MemoryLinks()
    proof = proof_over(store, tmp_path, every_events=1000, every_s=0.0)
    proof.anchor()
    store.append(3)
    assert proof.checkpoint_if_due(3) is not None and proof.checkpoint_if_due(3) is None
