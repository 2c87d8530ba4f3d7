"""Carries answers of the legacy HTTP+SSE transport to the process holding the client's stream.

A client's ``POST /message`` may reach any worker, but its answer must go out on the SSE stream one
worker holds. Locally that is a queue; with Redis configured, an answer for a stream held elsewhere
is published on ``ledgergate:sse:<session>``, and every worker listens for its own streams' channels.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import redis.asyncio as aioredis
from redis.exceptions import RedisError

__all__ = ["SseRelay"]

log = logging.getLogger("ledgergate.mcp")
PREFIX = "ledgergate:sse:"


class SseRelay:
    def __init__(self, redis_url: str | None, prefix: str = PREFIX) -> None:
        self.prefix = prefix
        self._local: dict[str, asyncio.Queue[bytes]] = {}
        self._redis = aioredis.Redis.from_url(redis_url) if redis_url else None
        self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True) if self._redis else None
        self._reader: asyncio.Task[None] | None = None

    async def attach(self, session_id: str, queue: asyncio.Queue[bytes]) -> None:
        self._local[session_id] = queue
        if self._pubsub is not None:
            await self._pubsub.subscribe(self.prefix + session_id)
            if self._reader is None or self._reader.done():
                self._reader = asyncio.create_task(self._read())

    async def detach(self, session_id: str) -> None:
        self._local.pop(session_id, None)
        if self._pubsub is not None:
            with contextlib.suppress(RedisError):
                await self._pubsub.unsubscribe(self.prefix + session_id)

    async def deliver(self, session_id: str, message: bytes) -> bool:
        """Queue ``message`` on the session's stream, here or in another process; False if no one holds it."""
        queue = self._local.get(session_id)
        if queue is not None:
            queue.put_nowait(message)
            return True
        if self._redis is None:
            return False
        return bool(await self._redis.publish(self.prefix + session_id, message))

    async def _read(self) -> None:
        assert self._pubsub is not None
        while self._local:
            try:
                message = await self._pubsub.get_message(timeout=1.0)
            except RedisError:
                log.warning("SSE relay lost Redis; retrying", exc_info=True)
                await asyncio.sleep(1.0)
                continue
            if message is None:
                continue
            channel = message["channel"].decode() if isinstance(message["channel"], bytes) else message["channel"]
            queue = self._local.get(channel.removeprefix(self.prefix))
            if queue is not None:
                queue.put_nowait(message["data"])

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        if self._pubsub is not None:
            await self._pubsub.aclose()
        if self._redis is not None:
            await self._redis.aclose()
