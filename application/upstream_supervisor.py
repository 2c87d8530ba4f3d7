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
from dataclasses import dataclass
from typing import Any, Protocol

import anyio.to_thread

from ledgergate.application.errors import ApplicationError, StoreUnavailableError
from ledgergate.application.registry import Registry
from ledgergate.application.secrets import unseal
from ledgergate.application.upstream_service import UpstreamService
from ledgergate.domain.envelope import Envelope
from ledgergate.domain.upstream import connection_fingerprint, connection_settings

__all__ = ["Leases", "UpstreamSupervisor"]

log = logging.getLogger("ledgergate.supervisor")
ACTOR = "system:supervisor"


def _log_probe(row: dict[str, Any], state: str, detail: str | None, seconds: float) -> None:
    """A change of health at INFO (WARNING when it gets worse); an unchanged probe at DEBUG."""
    health = row["doc"].get("health")
    before = health.get("state") if isinstance(health, dict) else None
    worse = state != "healthy" and before != state
    level = logging.DEBUG if before == state else (logging.WARNING if worse else logging.INFO)
    fields = {
        "event": "upstream.health",
        "tenant": row["tenant_id"],
        "upstream": row["name"],
        "state": state,
        "previous": before,
        "detail": detail,
        "probe_ms": round(seconds * 1000, 3),
    }
    log.log(level, "upstream %s is %s", row["name"], state, extra={"fields": fields})


class Leases(Protocol):
    def try_acquire(self, name: str, ttl_s: float) -> bool: ...


Probe = Callable[[dict[str, Any]], Awaitable[tuple[bool, str | None, float]]]
Watch = Callable[[dict[str, Any], Callable[[], Awaitable[None]], asyncio.Event], Awaitable[None]]


@dataclass
class _Watching:
    """A held connection listening for ``list_changed``; restarted when the connection settings change."""

    fingerprint: int
    task: asyncio.Task[None]
    stop: asyncio.Event
    retry_at: float


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
        self._watches: dict[str, _Watching] = {}
        self._renew_at: dict[str, float] = {}
        self._refreshing: dict[str, asyncio.Task[None]] = {}
        self._again: dict[str, str] = {}
        self._resync: set[str] = set()

    @staticmethod
    def _envelope(row: dict[str, Any], why: str) -> Envelope:
        return Envelope(row["tenant_id"], ACTOR, str(uuid.uuid4()), why)

    async def run(self, stopped: asyncio.Event, tick_s: float = 1.0) -> None:
        try:
            while not stopped.is_set():
                try:
                    await self.tick()
                except StoreUnavailableError:
                    pass  # leases live in the database: supervision resumes with it (its outage is logged once)
                except Exception:
                    log.exception("upstream supervision failed; continuing")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopped.wait(), timeout=tick_s)
        finally:
            await self.close()

    async def close(self) -> None:
        for watching in self._watches.values():
            watching.stop.set()
            watching.task.cancel()
        for task in self._refreshing.values():
            task.cancel()
        await asyncio.gather(
            *(w.task for w in self._watches.values()), *self._refreshing.values(), return_exceptions=True
        )
        self._watches.clear()
        self._refreshing.clear()

    async def tick(self) -> None:
        now = time.monotonic()
        live: set[str] = set()
        for row in self.rows():
            if not row["enabled"]:
                continue
            upstream_id = row["id"]
            if not await self._holds(upstream_id, now):
                continue
            live.add(upstream_id)
            self._ensure_watch(row)
            if now >= self._next_probe.get(upstream_id, 0):
                self._next_probe[upstream_id] = now + self.probe_interval_s
                before = (row["doc"].get("health") or {}).get("state")
                if await self._probe(row) and (before == "unreachable" or upstream_id in self._resync):
                    # what changed while we could not hear the upstream is only found by asking again
                    self._resync.discard(upstream_id)
                    self.request_refresh(row, "upstream reachable again")
            interval = row["doc"].get("refresh_interval_s")
            if interval and now >= self._next_refresh.setdefault(upstream_id, now + interval):
                self._next_refresh[upstream_id] = now + interval
                self.request_refresh(row, "scheduled refresh")
        for upstream_id in [k for k in self._watches if k not in live]:
            watching = self._watches.pop(upstream_id)
            watching.stop.set()
            watching.task.cancel()
        self._refreshing = {k: t for k, t in self._refreshing.items() if not t.done()}

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

    async def _probe(self, row: dict[str, Any]) -> bool:
        spec = {"id": row["id"], **unseal(row["doc"], row["tenant_id"], self.registry.cipher)}
        reachable, detail, seconds = await self.probe(spec)
        timeout = float(row["doc"].get("timeout_s") or 60)
        state = "unreachable" if not reachable else ("degraded" if seconds > timeout / 2 else "healthy")
        detail = detail if not reachable else f"initialized in {seconds * 1000:.0f} ms"
        _log_probe(row, state, detail, seconds)
        try:
            await anyio.to_thread.run_sync(
                self.registry.record_upstream_health, self._envelope(row, "health probe"), row["id"], state, detail
            )
        except ApplicationError as exc:
            log.warning(
                "could not record health of %s: %s",
                row["name"],
                exc.detail,
                extra={
                    "fields": {
                        "event": "upstream.health_not_recorded",
                        "tenant": row["tenant_id"],
                        "upstream": row["name"],
                    }
                },
            )
        return reachable

    def request_refresh(self, row: dict[str, Any], why: str) -> None:
        """Refresh the upstream's catalog soon. One refresh runs at a time per upstream; requests that
        arrive meanwhile (a burst of ``list_changed``) are served by one more refresh after it."""
        upstream_id = row["id"]
        running = self._refreshing.get(upstream_id)
        if running is not None and not running.done():
            self._again[upstream_id] = why
            return

        async def refresh_until_settled() -> None:
            reason: str | None = why
            while reason is not None:
                await self._refresh(row, reason)
                reason = self._again.pop(upstream_id, None)

        self._refreshing[upstream_id] = asyncio.create_task(refresh_until_settled(), name=f"refresh-{row['name']}")

    async def _refresh(self, row: dict[str, Any], why: str) -> None:
        try:
            await self.service.refresh(self._envelope(row, why), row["id"])
        except ApplicationError as exc:
            log.warning(
                "refresh of upstream %s failed: %s",
                row["name"],
                exc.detail,
                extra={
                    "fields": {"event": "upstream.refresh_failed", "tenant": row["tenant_id"], "upstream": row["name"]}
                },
            )
        except Exception:
            log.exception("refresh of upstream %s failed", row["name"])

    def _ensure_watch(self, row: dict[str, Any]) -> None:
        upstream_id = row["id"]
        fingerprint = connection_fingerprint(row["doc"])
        current = self._watches.get(upstream_id)
        if current is not None and current.fingerprint == fingerprint:
            if not current.task.done() or time.monotonic() < current.retry_at:
                return
            self._resync.add(upstream_id)  # the held connection dropped: notifications may have been missed
        if current is not None:
            current.stop.set()
            current.task.cancel()
        spec = {"id": upstream_id, **unseal(connection_settings(row["doc"]), row["tenant_id"], self.registry.cipher)}
        stop = asyncio.Event()

        async def changed() -> None:  # don't refresh inside the client's message handler: schedule it
            self.request_refresh(row, "upstream list_changed")

        async def hold() -> None:
            try:
                await self.watch(spec, changed, stop)
            except Exception as exc:  # the upstream is down or refuses: the probe reports it, we retry later
                log.debug("watch of upstream %s ended: %s", row["name"], exc)

        task = asyncio.create_task(hold(), name=f"watch-{row['name']}")
        self._watches[upstream_id] = _Watching(fingerprint, task, stop, time.monotonic() + self.probe_interval_s)
