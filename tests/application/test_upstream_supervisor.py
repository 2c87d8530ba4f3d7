"""The upstream supervisor over a real registry and projection; the upstream itself is a fake of the ports
(discovery, probe, watch), so bursts, drops and recoveries can be staged exactly."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from ledgergate.application.audit import event_entry
from ledgergate.application.upstream_catalog import DiscoveredCatalog
from ledgergate.application.upstream_service import UpstreamService
from ledgergate.application.upstream_supervisor import UpstreamSupervisor
from ledgergate.infrastructure.eventstore import log_reader
from ledgergate.projections.catalog import evolve
from tests.application.fakes import envelope, new_registry


def tool(name: str) -> dict[str, Any]:
    return {"name": name, "inputSchema": {"type": "object"}}


class FakeUpstream:
    """Discovery, probe and watch ports of one upstream whose tools and reachability the test sets."""

    def __init__(self) -> None:
        self.tools = [tool("echo")]
        self.reachable = True
        self.discoveries = 0
        self.gate: asyncio.Event | None = None
        self.watches: list[dict[str, Any]] = []
        self.notify: Callable[[], Awaitable[None]] | None = None
        self.drop = asyncio.Event()

    async def discover(self, spec: dict[str, Any]) -> DiscoveredCatalog:
        self.discoveries += 1
        if self.gate is not None:
            await self.gate.wait()
        if not self.reachable:
            raise ConnectionError("refused")
        return DiscoveredCatalog("2025-11-25", {"name": "fake"}, tools=list(self.tools))

    async def probe(self, spec: dict[str, Any]) -> tuple[bool, str | None, float]:
        return (True, None, 0.01) if self.reachable else (False, "ConnectionError: refused", 0.01)

    async def watch(self, spec: dict[str, Any], on_changed: Callable[[], Awaitable[None]], stop: asyncio.Event) -> None:
        self.watches.append(spec)
        self.notify = on_changed
        self.drop = asyncio.Event()
        stopped = asyncio.create_task(stop.wait())
        dropped = asyncio.create_task(self.drop.wait())
        await asyncio.wait({stopped, dropped}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        dropped.cancel()
        if self.drop.is_set():
            raise ConnectionError("the connection dropped")


class AlwaysLeased:
    def try_acquire(self, name: str, ttl_s: float) -> bool:
        return True


class Harness:
    def __init__(self) -> None:
        self.registry = new_registry()
        self.upstream = FakeUpstream()
        self.service = UpstreamService(self.registry, self.upstream, (ConnectionError,))
        self.supervisor = UpstreamSupervisor(
            self.rows,
            self.registry,
            self.service,
            AlwaysLeased(),
            self.upstream.probe,
            self.upstream.watch,
            probe_interval_s=0.0,
        )
        self.upstream_id = ""

    def rows(self) -> list[dict[str, Any]]:
        folded: dict[str, dict[str, Any]] = {}
        for position, event in log_reader(self.registry)(0, 100_000):
            row = evolve(folded.get(str(event.originator_id)), event, position)
            if row is not None:
                folded[row["id"]] = row
        return [r for r in folded.values() if r["kind"] == "upstream" and not r["deleted"]]

    async def register(self) -> None:
        written, _ = await self.service.register(
            envelope(), {"name": "alpha", "transport": "streamable_http", "url": "http://127.0.0.1:9/mcp"}
        )
        self.upstream_id = written.id
        self.upstream.discoveries = 0

    def tool_names(self) -> list[str]:
        upstream = self.registry.repository.get(UUID(self.upstream_id))
        return sorted(info["original"] for info in upstream.items.values() if info["kind"] == "tool")

    def events(self) -> list[tuple[str, str]]:
        return [(type(e).__qualname__, e.actor) for _, e in log_reader(self.registry)(0, 100_000)]

    async def settle(self) -> None:
        for _ in range(20):
            await asyncio.sleep(0)
        await asyncio.gather(*self.supervisor._refreshing.values())


async def _burst_of_notifications_during_a_refresh() -> Harness:
    harness = Harness()
    await harness.register()
    await harness.supervisor.tick()
    await asyncio.sleep(0)
    assert harness.upstream.notify is not None
    harness.upstream.gate = asyncio.Event()
    harness.upstream.tools = [tool("echo"), tool("grown")]
    for _ in range(5):
        await harness.upstream.notify()
        await asyncio.sleep(0)
    harness.upstream.gate.set()
    await harness.settle()
    await harness.supervisor.close()
    return harness


def test_a_burst_of_list_changed_during_a_refresh_gives_one_more_refresh_not_one_each() -> None:
    harness = asyncio.run(_burst_of_notifications_during_a_refresh())
    assert harness.upstream.discoveries == 2
    assert harness.tool_names() == ["echo", "grown"]
    assert ("Tool.Registered", "system:supervisor") in harness.events()


async def _health_then_new_url() -> Harness:
    harness = Harness()
    await harness.register()
    await harness.supervisor.tick()  # probe: unknown -> healthy, a new version of the upstream
    await asyncio.sleep(0)
    await harness.supervisor.tick()  # the health event must not restart the watch
    await asyncio.sleep(0)
    assert len(harness.upstream.watches) == 1
    harness.registry.update_upstream(envelope(), harness.upstream_id, {"url": "http://127.0.0.1:10/mcp"})
    await harness.supervisor.tick()  # a new url does
    await asyncio.sleep(0)
    await harness.supervisor.close()
    return harness


def test_the_watch_is_kept_across_health_events_and_restarted_when_the_connection_settings_change() -> None:
    harness = asyncio.run(_health_then_new_url())
    assert [w["url"] for w in harness.upstream.watches] == ["http://127.0.0.1:9/mcp", "http://127.0.0.1:10/mcp"]


async def _down_then_back_with_new_tools() -> Harness:
    harness = Harness()
    await harness.register()
    await harness.supervisor.tick()
    await asyncio.sleep(0)
    harness.upstream.reachable = False
    harness.upstream.drop.set()  # the held connection dies with the upstream
    await harness.supervisor.tick()
    await harness.settle()
    harness.upstream.tools = [tool("echo"), tool("after_restart")]  # changed while nobody could hear it
    harness.upstream.reachable = True
    await harness.supervisor.tick()
    await harness.settle()
    await harness.supervisor.close()
    return harness


def test_an_upstream_that_comes_back_is_refreshed_so_changes_made_while_it_was_down_appear() -> None:
    harness = asyncio.run(_down_then_back_with_new_tools())
    assert harness.tool_names() == ["after_restart", "echo"]
    health = [e for e in harness.events() if e[0] == "Upstream.HealthChanged"]
    assert len(health) == 3  # healthy, unreachable, healthy


async def _refresh_of_an_unreachable_upstream() -> Harness:
    harness = Harness()
    await harness.register()
    harness.upstream.reachable = False
    harness.supervisor.request_refresh(harness.rows()[0], "test")
    await harness.settle()
    await harness.supervisor.close()
    return harness


def test_a_refresh_that_cannot_reach_the_upstream_changes_nothing() -> None:
    harness = asyncio.run(_refresh_of_an_unreachable_upstream())
    assert harness.tool_names() == ["echo"]
    assert not any(e[1] == "system:supervisor" for e in harness.events())


def test_a_health_transition_in_the_audit_log_says_which_state_and_why() -> None:
    registry = new_registry()
    fields = registry.prepare_upstream(
        envelope(), {"name": "beta", "transport": "streamable_http", "url": "http://127.0.0.1:9/mcp"}
    )
    written, _ = registry.register_upstream(envelope(), fields, DiscoveredCatalog("2025-06-18", {"name": "b"}))
    registry.record_upstream_health(envelope(), written.id, "unreachable", "connection refused")
    entries = [event_entry(p, e, "upstream") for p, e in log_reader(registry)(0, 100)]
    [health] = [e for e in entries if e["type"] == "Upstream.HealthChanged"]
    assert (health["state"], health["detail"]) == ("unreachable", "connection refused")
