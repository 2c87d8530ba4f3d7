"""Resource subscriptions on discovered resources: one upstream subscription per resource and process.

A legacy client subscribes with ``resources/subscribe`` (the URI is kept in its session record, so
``resources/unsubscribe`` may reach any worker); its updates travel to whichever worker holds the
session's stream, through the same relay as HTTP+SSE answers. A modern client names URIs in
``subscriptions/listen``; their updates go on that stream. The worker that took the subscription
holds the upstream one and ends it when no subscriber is left (checked on each update).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ledgergate.api.mcp.protocol import notification_body
from ledgergate.api.mcp.sse_relay import SseRelay
from ledgergate.application.forwarding import UpstreamForwarder
from ledgergate.application.sessions import McpSession, SessionStore, SessionStoreUnavailableError

__all__ = ["LIVE_WAIT_S", "UPDATED", "ResourceUpdates", "SessionSink", "StreamSink"]

log = logging.getLogger("ledgergate.mcp")
UPDATED = "notifications/resources/updated"
#: (upstream spec, original URI, on update, stop, set once the upstream subscription is live)
Subscribe = Callable[
    [dict[str, Any], str, Callable[[], Awaitable[None]], asyncio.Event, asyncio.Event], Awaitable[None]
]
#: How long a ``resources/subscribe`` waits for the upstream subscription before answering anyway.
LIVE_WAIT_S = 10.0


class Sink(Protocol):
    async def deliver(self, uri: str) -> bool:
        """Send an update of ``uri``; False when this subscriber is gone."""
        ...


@dataclass(frozen=True)
class SessionSink:
    """A legacy session's subscription: valid while its record lists the URI."""

    session_id: str
    sessions: SessionStore
    relay: SseRelay

    async def deliver(self, uri: str) -> bool:
        try:
            session = await self.sessions.get(self.session_id)
            if session is None or uri not in session.subscriptions:
                return False
            await self.relay.deliver(self.session_id, notification_body(UPDATED, {"uri": uri}))
        except SessionStoreUnavailableError:  # this update is lost; the subscription stays for the next
            return True
        return True


@dataclass(eq=False)
class StreamSink:
    """A modern ``subscriptions/listen`` stream: valid until it closes."""

    offer: Callable[[bytes], None]
    subscription_id: Any
    open: bool = True

    async def deliver(self, uri: str) -> bool:
        if self.open:
            meta = {"io.modelcontextprotocol/subscriptionId": self.subscription_id}
            self.offer(notification_body(UPDATED, {"uri": uri, "_meta": meta}))
        return self.open


@dataclass(eq=False)
class _Watch:
    uri: str  # as the client knows it
    sinks: set[Any] = field(default_factory=set)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    live: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    async def until_live(self, timeout_s: float) -> None:
        """Wait until the upstream subscription is in place (or has failed, or ``timeout_s`` passed), so
        a change made right after the client's subscribe is not missed."""
        if self.live.is_set() or self.task is None:
            return
        live = asyncio.ensure_future(self.live.wait())
        await asyncio.wait({live, self.task}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        live.cancel()


class ResourceUpdates:
    def __init__(self, forwarder: UpstreamForwarder, subscribe: Subscribe) -> None:
        self.forwarder = forwarder
        self.subscribe_upstream = subscribe
        self._watches: dict[tuple[str, str], _Watch] = {}

    def add(self, tenant_id: str, row: dict[str, Any], sink: Sink) -> _Watch:
        """Deliver updates of a discovered resource to ``sink``.

        Raises: ToolCallError when the resource's upstream is gone or disabled."""
        upstream, original = self.forwarder.upstream_of(tenant_id, row)
        key = (upstream.spec["id"], original)
        watch = self._watches.get(key)
        if watch is None or watch.task is None or watch.task.done():
            watch = self._watches[key] = _Watch(uri=row["doc"]["uri"])
            watch.task = asyncio.create_task(self._hold(key, watch, upstream.spec, original), name="subscribe")
        watch.sinks.add(sink)
        return watch

    def discard(self, sink: Sink) -> None:
        for key, watch in list(self._watches.items()):
            watch.sinks.discard(sink)
            if not watch.sinks:
                self._end(key, watch)

    def _end(self, key: tuple[str, str], watch: _Watch) -> None:
        watch.stop.set()
        if self._watches.get(key) is watch:
            del self._watches[key]

    async def _hold(self, key: tuple[str, str], watch: _Watch, spec: dict[str, Any], original: str) -> None:
        async def updated() -> None:
            for sink in list(watch.sinks):
                if not await sink.deliver(watch.uri):
                    watch.sinks.discard(sink)
            if not watch.sinks:
                self._end(key, watch)

        try:
            await self.subscribe_upstream(spec, original, updated, watch.stop, watch.live)
        except Exception:  # the next subscribe starts again; the failure is the upstream's
            log.warning("subscription to %s of upstream %s ended", original, spec.get("name"), exc_info=True)
        finally:
            if self._watches.get(key) is watch:
                del self._watches[key]

    async def set(
        self,
        tenant_id: str,
        session: McpSession,
        row: dict[str, Any],
        on: bool,
        sessions: SessionStore,
        relay: SseRelay,
    ) -> None:
        """``resources/subscribe`` (``on``) or ``resources/unsubscribe`` of a legacy session.

        Raises: ToolCallError (the resource's upstream is gone or disabled; nothing changes)."""
        uri = row["doc"]["uri"]
        if on and row["doc"].get("source"):
            await self.add(tenant_id, row, SessionSink(session.id, sessions, relay)).until_live(LIVE_WAIT_S)

        def subscribed(stored: McpSession) -> None:
            kept = [u for u in stored.subscriptions if u != uri]
            stored.subscriptions = [*kept, uri] if on else kept

        subscribed(session)
        await sessions.change(session.id, subscribed)

    async def close(self) -> None:
        watches, self._watches = list(self._watches.values()), {}
        for watch in watches:
            watch.stop.set()
        for watch in watches:
            if watch.task is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(watch.task, timeout=5)
