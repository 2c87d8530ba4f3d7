"""The walk that judges the live chain, on rows built in memory: each kind of edit found at its position."""

from __future__ import annotations

from uuid import uuid4

from ledgergate.application.log_chain import GENESIS_LINK, ChainRow, Checkpoint, link, walk

START = Checkpoint(0, GENESIS_LINK, "t0", "sk-test", "sig")


def chain(n: int) -> list[ChainRow]:
    rows, previous, position = [], GENESIS_LINK, 0
    for p in range(1, n + 1):
        stream, state = uuid4(), f"event {p}".encode()
        previous = link(previous, position, p, stream, 1, "t:E", state)
        rows.append(ChainRow(p, stream, 1, "t:E", state, position, previous))
        position = p
    return rows


def checkpoint_at(rows: list[ChainRow], position: int) -> Checkpoint:
    return Checkpoint(position, rows[position - 1].link or b"", "t1", "sk-test", "sig")


def judge(rows: list[ChainRow], *checkpoints: Checkpoint, ok: bool = True) -> object:
    return walk(rows, START, list(checkpoints), lambda c: ok)


def test_an_untouched_chain_is_intact_up_to_its_last_position() -> None:
    rows = chain(10)
    verdict = judge(rows, checkpoint_at(rows, 6))
    assert verdict.intact and verdict.checked == 10 and verdict.checkpoints == 1  # type: ignore[attr-defined]


def test_each_edit_is_found_at_its_position_and_names_the_checkpoint_after_it() -> None:
    rows = chain(10)
    cp = checkpoint_at(rows, 8)
    changed = [*rows[:3], rows[3]._replace(state=b"forged"), *rows[4:]]
    removed = [*rows[:4], *rows[5:]]
    inserted = [*rows[:4], ChainRow(5, uuid4(), 1, "t:E", b"x", None, None), *rows[4:]]
    for edited, expected in ((changed, (4, "changed")), (removed, (5, "removed")), (inserted, (5, "inserted"))):
        finding = judge(edited, cp).finding  # type: ignore[attr-defined]
        assert (finding.position, finding.what) == expected and finding.contradicts == cp


def test_recomputed_links_contradict_the_checkpoint_and_a_bad_signature_is_a_forged_checkpoint() -> None:
    rows, forged = chain(10), chain(10)
    assert judge(forged, checkpoint_at(rows, 8)).finding.what == "rewritten"  # type: ignore[attr-defined]
    assert judge(rows, checkpoint_at(rows, 8), ok=False).finding.what == "forged checkpoint"  # type: ignore[attr-defined]
    assert judge(rows[:7], checkpoint_at(rows, 8)).finding.what == "removed"  # type: ignore[attr-defined]
