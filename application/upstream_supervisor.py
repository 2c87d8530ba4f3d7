"""Watches upstreams from one process at a time: health probes, scheduled refreshes, list_changed.

Every process runs a supervisor; for each upstream, a lease decides which one does the work, so
with several processes an upstream is probed once per interval, not once per process. Health is
appended only on transitions (healthy, degraded, unreachable), never one event per probe.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import anyio.to_thread

from application.errors import ApplicationError
from application.registry import Registry
from application.secrets import unseal
from application.upstream_service import UpstreamService
from domain.envelope import Envelope

__all__ = ["Leases", "UpstreamSupervisor"]

log = logging.getLogger("ledgergate.supervisor")
ACTOR = "system:supervisor"


class Leases(Protocol):
    def try_acquire(self, name: str, ttl_s: float) -> bool: ...


Probe = Callable[[dict[str, Any]], Awaitable[tuple[bool, str | None, float]]]
Watch = Callable[[dict[str, Any], Callable[[], Awaitable[None]], asyncio.Event], Awaitable[None]]


class UpstreamSupervisor:
    def __init__(
        self,
        rows: Callable[[], list[dict[str, Any]]],
        registry: Registry,
        service: UpstreamService,
        leases: Leases,
        probe: Probe,
        watch: Watch,
        probe_interval_s: float = 30.0,
    ) -> None:
        self.rows = rows
        self.registry = registry
        self.service = service
        self.leases = leases
        self.probe = probe
        self.watch = watch
        self.probe_interval_s = probe_interval_s
        self._next_probe: dict[str, float] = {}
        self._next_refresh: dict[str, float] = {}
        self._watches: dict[tuple[str, int], tuple[asyncio.Task[None], asyncio.Event]] = {}
        self._watch_retry: dict[str, float] = {}
        self._renew_at: dict[str, float] = {}
        self._pending: set[asyncio.Task[None]] = set()

    @staticmethod
    def _envelope(row: dict[str, Any], why: str) -> Envelope:
        return Envelope(row["tenant_id"], ACTOR, str(uuid.uuid4()), why)

    async def run(self, stopped: asyncio.Event, tick_s: float = 1.0) -> None:
        while not stopped.is_set():
            try:
                await self.tick()
            except Exception:
                log.exception("upstream supervision failed; continuing")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopped.wait(), timeout=tick_s)
        for task, stop in self._watches.values():
            stop.set()
            task.cancel()

    async def tick(self) -> None:
        now = time.monotonic()
        live: set[tuple[str, int]] = set()
        for row in self.rows():
            if not row["enabled"]:
                continue
            upstream_id = row["id"]
            if not await self._holds(upstream_id, now):
                continue
            spec = {"id": upstream_id, **unseal(row["doc"], row["tenant_id"], self.registry.cipher)}
            live.add((upstream_id, row["version"]))
            self._ensure_watch(row, spec)
            if now >= self._next_probe.get(upstream_id, 0):
                self._next_probe[upstream_id] = now + self.probe_interval_s
                await self._probe(row, spec)
            interval = row["doc"].get("refresh_interval_s")
            if interval and now >= self._next_refresh.setdefault(upstream_id, now + interval):
                self._next_refresh[upstream_id] = now + interval
                await self._refresh(row, "scheduled refresh")
        for key in [k for k in self._watches if k not in live]:
            task, stop = self._watches.pop(key)
            stop.set()
            task.cancel()

    async def _holds(self, upstream_id: str, now: float) -> bool:
        """Whether this process holds the upstream's lease; it is renewed at half its term, not every tick,
        so that idle supervision does not write to the database once a second per upstream."""
        if now < self._renew_at.get(upstream_id, 0):
            return True
        ttl = self.probe_interval_s * 2
        if not await anyio.to_thread.run_sync(self.leases.try_acquire, f"upstream:{upstream_id}", ttl):
            self._renew_at.pop(upstream_id, None)
            return False
        self._renew_at[upstream_id] = now + ttl / 2
        return True

    async def _probe(self, row: dict[str, Any], spec: dict[str, Any]) -> None:
        reachable, detail, seconds = await self.probe(spec)
        timeout = float(row["doc"].get("timeout_s") or 60)
        state = "unreachable" if not reachable else ("degraded" if seconds > timeout / 2 else "healthy")
        detail = detail if not reachable else f"initialized in {seconds * 1000:.0f} ms"
        try:
            await anyio.to_thread.run_sync(
                self.registry.record_upstream_health, self._envelope(row, "health probe"), row["id"], state, detail
            )
        except ApplicationError as exc:
            log.warning("could not record health of %s: %s", row["name"], exc.detail)

    async def _refresh(self, row: dict[str, Any], why: str) -> None:
        try:
            await self.service.refresh(self._envelope(row, why), row["id"])
        except ApplicationError as exc:
            log.warning("refresh of upstream %s failed: %s", row["name"], exc.detail)

    def _ensure_watch(self, row: dict[str, Any], spec: dict[str, Any]) -> None:
        key = (row["id"], row["version"])
        current = self._watches.get(key)
        if current is not None and (not current[0].done() or time.monotonic() < self._watch_retry.get(row["id"], 0)):
            return
        self._watch_retry[row["id"]] = time.monotonic() + self.probe_interval_s
        stop = asyncio.Event()

        async def changed() -> None:  # don't refresh inside the client's message handler: schedule it
            self._pending.add(asyncio.create_task(self._refresh(row, "upstream list_changed")))
            self._pending = {t for t in self._pending if not t.done()}

        async def hold() -> None:
            with contextlib.suppress(Exception):
                await self.watch(spec, changed, stop)

        self._watches[key] = (asyncio.create_task(hold(), name=f"watch-{row['name']}"), stop)
