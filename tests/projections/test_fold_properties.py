"""Properties of the fold over random command sequences: deterministic, splittable, faithful to the aggregates."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ledgergate.domain.catalog import CatalogEntity
from ledgergate.domain.envelope import recording
from ledgergate.domain.errors import EntityDeletedError
from ledgergate.projections.catalog import Row, evolve
from tests.domain.builders import ENVELOPE, new_prompt, new_resource, new_tool, replay

Log = list[tuple[int, Any]]

UPDATES = st.one_of(
    st.fixed_dictionaries({"description": st.sampled_from([None, "one", "two"])}),
    st.fixed_dictionaries({"tags": st.lists(st.sampled_from(["a", "b", "c"]), max_size=3)}),
    st.fixed_dictionaries({"name": st.sampled_from(["alpha", "beta", "gamma"])}),
    st.fixed_dictionaries({"title": st.sampled_from([None, "T"]), "tags": st.just(["z"])}),
)
COMMANDS = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=2),
        st.one_of(
            st.tuples(st.just("update"), UPDATES),
            st.tuples(st.sampled_from(["enable", "disable", "delete"]), st.none()),
            st.tuples(st.just("revert"), st.integers(min_value=0, max_value=50)),
        ),
    ),
    max_size=30,
)


def run(commands: Sequence[tuple[int, tuple[str, Any]]]) -> tuple[list[CatalogEntity], Log]:
    """Apply the commands to a tool, a prompt and a resource; return them and the interleaved log."""
    entities: list[CatalogEntity] = [new_tool(), new_prompt(), new_resource()]
    history: dict[int, list[Any]] = {i: [] for i in range(3)}
    log: Log = []

    def collect(i: int) -> None:
        for event in entities[i].collect_events():
            history[i].append(event)
            log.append((len(log) + 1, event))

    for i in range(3):
        collect(i)
    for i, (action, arg) in commands:
        entity = entities[i]
        with recording(ENVELOPE):
            try:
                if action == "update":
                    entity.update(arg)
                elif action == "revert":
                    past = replay(history[i][: 1 + arg % entity.version])
                    if not past.deleted:  # the registry refuses to revert to a deleted state
                        entity.revert(past.version, past.state())
                else:
                    getattr(entity, action)()
            except EntityDeletedError:
                pass
        collect(i)
    return entities, log


def fold(log: Log, rows: dict[str, Row] | None = None) -> dict[str, Row]:
    rows = dict(rows or {})
    for position, event in log:
        new = evolve(rows.get(str(event.originator_id)), event, position)
        if new is not None:
            rows[new["id"]] = new
    return rows


@settings(max_examples=75, deadline=None)
@given(commands=COMMANDS)
def test_replaying_the_same_log_twice_gives_identical_rows(commands: list[Any]) -> None:
    _, log = run(commands)

    assert fold(log) == fold(log)


@settings(max_examples=75, deadline=None)
@given(commands=COMMANDS, cut=st.floats(min_value=0, max_value=1))
def test_folding_in_two_batches_equals_folding_once(commands: list[Any], cut: float) -> None:
    _, log = run(commands)
    split = round(cut * len(log))

    assert fold(log[split:], fold(log[:split])) == fold(log)


@settings(max_examples=75, deadline=None)
@given(commands=COMMANDS)
def test_each_row_matches_the_state_of_its_aggregate(commands: list[Any]) -> None:
    entities, log = run(commands)

    rows = fold(log)

    assert len(rows) == 3
    for entity in entities:
        row = rows[str(entity.id)]
        assert row["doc"] == {name: getattr(entity, name) for name in entity.RULES}
        assert (row["enabled"], row["deleted"], row["version"]) == (entity.enabled, entity.deleted, entity.version)
        assert row["name"] == entity.unique_name
        assert row["position"] == max(p for p, e in log if e.originator_id == entity.id)
