"""Two processes' registries writing the same streams at once: every command lands, none is lost or doubled.

The writers pause 2-15 ms between commands (users and the upstream supervisor pause far longer); a
command that loses a race runs again on the fresh state instead of failing with 409.
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path
from uuid import UUID

from ledgergate.api.runtime import build_runtime
from ledgergate.application.registry import PLATFORM_TENANT
from ledgergate.domain.envelope import Envelope
from tests.conftest import make_settings

ROUNDS = 15


def test_commands_racing_on_one_tool_from_two_registries_all_land(tmp_path: Path, database_url: str) -> None:
    first = build_runtime(make_settings(tmp_path / "a", database_url), follow=False)
    second = build_runtime(make_settings(tmp_path / "b", database_url), follow=False, run_migrations=False)
    second.registry.cipher = first.registry.cipher  # one instance's keys, as two processes sharing a data dir
    try:
        first.registry.create_tenant(Envelope(PLATFORM_TENANT, "root", "c", "c"), {"name": "acme"})
        tool = {
            "name": "lookup",
            "input_schema": {"type": "object"},
            "integration": {"method": "GET", "url": "https://x.example/"},
        }
        created = first.registry.create_entity(Envelope("acme", "alice", "c", "c"), "tool", tool)
        failures: list[BaseException] = []

        def writer(runtime_name: str, registry: object) -> None:
            try:
                for n in range(ROUNDS):
                    time.sleep(random.uniform(0.002, 0.015))
                    registry.update_entity(  # type: ignore[attr-defined]
                        Envelope("acme", runtime_name, "c", "c"),
                        "tool",
                        created.id,
                        {"description": f"{runtime_name} {n}"},
                    )
            except BaseException as exc:
                failures.append(exc)

        threads = [
            threading.Thread(target=writer, args=("one", first.registry)),
            threading.Thread(target=writer, args=("two", second.registry)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert failures == []
        events = list(first.registry.events.get(UUID(created.id)))
        assert len(events) == 1 + 2 * ROUNDS
        assert [e.originator_version for e in events] == list(range(1, 2 + 2 * ROUNDS))
    finally:
        second.close()
        first.close()
