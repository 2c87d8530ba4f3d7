"""Delivers list_changed notifications to the client streams this process holds.

The hot catalogs call ``publish`` from the follower thread; each stream is an asyncio queue on the
event loop that owns it, fed with ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from ledgergate.projections.hot_catalog import CatalogChange

__all__ = ["LIST_CHANGED", "NotificationHub", "Subscriber"]

log = logging.getLogger("ledgergate.mcp")

LIST_CHANGED = {
    "tools": "notifications/tools/list_changed",
    "prompts": "notifications/prompts/list_changed",
    "resources": "notifications/resources/list_changed",
}


@dataclass(eq=False)
class Subscriber:
    tenant_id: str
    server_id: str | None
    kinds: frozenset[str]
    encode: Callable[[str], bytes]  # notification method -> message bytes for this stream
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[bytes] = field(default_factory=lambda: asyncio.Queue(maxsize=1000))

    def offer(self, message: bytes) -> None:
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            log.warning("a client stream is not reading; dropping a notification")


class NotificationHub:
    def __init__(self) -> None:
        self._subscribers: dict[tuple[str, str | None], set[Subscriber]] = {}

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.setdefault((subscriber.tenant_id, subscriber.server_id), set()).add(subscriber)

    def unsubscribe(self, subscriber: Subscriber) -> None:
        key = (subscriber.tenant_id, subscriber.server_id)
        self._subscribers.get(key, set()).discard(subscriber)

    def count(self) -> int:
        return sum(len(s) for s in self._subscribers.values())

    def publish(self, changes: list[CatalogChange]) -> None:
        """Called from the follower thread with what the last batch changed."""
        for change in changes:
            for subscriber in list(self._subscribers.get((change.tenant_id, change.server_id), ())):
                for kind in sorted(change.kinds & subscriber.kinds):
                    message = subscriber.encode(LIST_CHANGED[kind])
                    subscriber.loop.call_soon_threadsafe(subscriber.offer, message)
