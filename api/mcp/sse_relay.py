"""Carries answers of the legacy HTTP+SSE transport to the process holding the client's stream.

A client's ``POST /message`` may reach any worker, but its answer must go out on the SSE stream one
worker holds. Locally that is a queue; with Redis configured, an answer for a stream held elsewhere
is published on ``ledgergate:sse:<session>``, and every worker listens for its own streams' channels.
While Redis is away a stream held here still gets its messages; one held elsewhere cannot be
reached, and ``deliver`` raises SessionStoreUnavailableError (the caller answers 503).
"""

from __future__ import annotations

import asyncio
import logging

from ledgergate.application.sessions import MessageChannels

__all__ = ["SseRelay"]

log = logging.getLogger("ledgergate.mcp")
PREFIX = "ledgergate:sse:"


class SseRelay:
    def __init__(self, channels: MessageChannels | None, prefix: str = PREFIX) -> None:
        self.prefix = prefix
        self._local: dict[str, asyncio.Queue[bytes]] = {}
        self._channels = channels

    async def attach(self, session_id: str, queue: asyncio.Queue[bytes]) -> None:
        self._local[session_id] = queue
        if self._channels is not None:
            await self._channels.listen(self.prefix + session_id, lambda message: self._offer(queue, message))

    @staticmethod
    def _offer(queue: asyncio.Queue[bytes], message: bytes) -> None:
        try:
            queue.put_nowait(message)
        except asyncio.QueueFull:
            log.warning("a client stream is not reading; dropping a relayed message")

    async def detach(self, session_id: str) -> None:
        self._local.pop(session_id, None)
        if self._channels is not None:
            await self._channels.unlisten(self.prefix + session_id)

    async def deliver(self, session_id: str, message: bytes) -> bool:
        """Queue ``message`` on the session's stream, here or in another process; False if no one holds it.

        Raises: SessionStoreUnavailableError (the stream may be held elsewhere, and Redis is away)."""
        queue = self._local.get(session_id)
        if queue is not None:
            self._offer(queue, message)
            return True
        if self._channels is None:
            return False
        return bool(await self._channels.publish(self.prefix + session_id, message))

    async def close(self) -> None:
        if self._channels is not None:
            await self._channels.close()
