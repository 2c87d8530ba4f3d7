"""Properties of the whole pipeline over random command sequences, on a real SQLite store:

- the live projection, followed batch by batch, equals a rebuild from the log;
- the catalog at position p (replayed in memory) equals the live catalog observed when the log stood at p;
- the audit log projection lists exactly what a scan of the log lists.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from ledgergate.api.runtime import build_runtime
from ledgergate.application.audit import AuditFilter, Point
from ledgergate.application.errors import ApplicationError
from ledgergate.application.ports import ItemFilter
from ledgergate.application.registry import PLATFORM_TENANT
from ledgergate.domain.envelope import Envelope
from ledgergate.infrastructure.eventstore import log_reader
from tests.conftest import make_settings
from tests.support.audit_reference import scanned_entries

KINDS = ("tool", "prompt", "server")
NAMES = st.sampled_from(["alpha", "beta", "gamma", "delta"])


def body(kind: str, name: str, members: list[str]) -> dict[str, Any]:
    if kind == "tool":
        return {
            "name": name,
            "input_schema": {"type": "object"},
            "integration": {"method": "GET", "url": "https://api.example.com/x", "headers": {"X-Key": "s3cret"}},
        }
    if kind == "prompt":
        return {"name": name, "template": "Hello {{ who }}", "arguments": [{"name": "who"}]}
    return {"name": name, "tool_ids": members}


def seen(rows: list[dict[str, Any]]) -> list[tuple[str, str, bool, int]]:
    return sorted((r["id"], r["name"], r["enabled"], r["version"]) for r in rows)


class Pipeline(RuleBasedStateMachine):
    @initialize()
    def start(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="lg-props-"))
        self.runtime = build_runtime(make_settings(self.dir), follow=False)
        self.runtime.projector.batch_size = 3  # the live projection advances in small batches
        self.registry = self.runtime.registry
        self.registry.create_tenant(Envelope(PLATFORM_TENANT, "root", "c", "c"), {"name": "acme"})
        self.ids: dict[str, list[str]] = {kind: [] for kind in KINDS}
        self.observed: list[tuple[int, dict[str, list[tuple[str, str, bool, int]]]]] = []

    def teardown(self) -> None:
        if hasattr(self, "runtime"):
            self.runtime.close()
            shutil.rmtree(self.dir, ignore_errors=True)

    def who(self, actor: str) -> Envelope:
        return Envelope("acme", actor, "c", "c")

    def attempt(self, command: Any) -> None:
        # refused commands (a taken name, a deleted entity) write nothing: the properties still hold
        with contextlib.suppress(ApplicationError):
            command()

    @rule(kind=st.sampled_from(KINDS), name=NAMES, actor=st.sampled_from(["alice", "bob"]))
    def create(self, kind: str, name: str, actor: str) -> None:
        def command() -> None:
            written = self.registry.create_entity(self.who(actor), kind, body(kind, name, self.ids["tool"][:2]))
            self.ids[kind].append(written.id)

        self.attempt(command)

    @precondition(lambda self: any(self.ids.values()))
    @rule(data=st.data(), description=st.sampled_from(["one", "two", None]))
    def update(self, data: st.DataObject, description: str | None) -> None:
        kind = data.draw(st.sampled_from([k for k in KINDS if self.ids[k]]))
        entity = data.draw(st.sampled_from(self.ids[kind]))
        self.attempt(lambda: self.registry.update_entity(self.who("carol"), kind, entity, {"description": description}))

    @precondition(lambda self: any(self.ids.values()))
    @rule(data=st.data(), action=st.sampled_from(["enable", "disable", "delete"]))
    def change(self, data: st.DataObject, action: str) -> None:
        kind = data.draw(st.sampled_from([k for k in KINDS if self.ids[k]]))
        entity = data.draw(st.sampled_from(self.ids[kind]))
        self.attempt(lambda: self.registry.change_entity(self.who("bob"), kind, entity, action))

    @precondition(lambda self: bool(self.ids["tool"]))
    @rule(data=st.data(), version=st.integers(min_value=1, max_value=4))
    def revert(self, data: st.DataObject, version: int) -> None:
        entity = data.draw(st.sampled_from(self.ids["tool"]))
        self.attempt(lambda: self.registry.revert_entity(self.who("alice"), "tool", entity, version))

    @invariant()
    def observe_the_live_catalog(self) -> None:
        if not hasattr(self, "runtime"):
            return
        position = self.runtime.projector.catch_up()
        self.runtime.board.publish(position)
        live = {
            kind: seen(self.runtime.queries.list("acme", kind, ItemFilter(), None, 500)[0])
            for kind in ("tool", "prompt", "server")
        }
        self.observed.append((position, live))

    def check_replays(self) -> None:
        for position, live in self.observed:
            past = self.runtime.audit.catalog("acme", Point(position=position))
            assert {kind: seen(past[kind + "s"]) for kind in live} == live, position
        view = self.runtime.view
        followed = sorted(view.load_all(self.runtime.projector.name)[0], key=lambda r: r["id"])
        self.runtime.projector.rebuild()
        rebuilt = sorted(view.load_all(self.runtime.projector.name)[0], key=lambda r: r["id"])
        assert rebuilt == followed
        self.runtime.audit_projector.catch_up()
        everything = AuditFilter()
        assert self.runtime.audit_log.feed(everything, 0, 10_000) == scanned_entries(
            log_reader(self.registry), everything
        )
        assert "s3cret" not in str(self.runtime.audit_log.feed(everything, 0, 10_000))


class PipelineWithChecks(Pipeline):
    def teardown(self) -> None:
        try:
            if hasattr(self, "runtime"):
                self.check_replays()
        finally:
            super().teardown()


PipelineWithChecks.TestCase.settings = settings(
    max_examples=12, stateful_step_count=18, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestReplayProperties = PipelineWithChecks.TestCase
