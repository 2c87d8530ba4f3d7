"""Client cancellation of calls in flight (``notifications/cancelled`` of legacy sessions).

A call that may go upstream runs as its own task, registered under (session, request id). The
client's ``notifications/cancelled`` may reach any worker: it cancels the task here, or is broadcast
on Redis to every worker, and the one running the call cancels it. Cancelling the task cancels the
upstream request with it (the upstream clients send their own cancellation).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec
import redis.asyncio as aioredis
from redis.exceptions import RedisError

__all__ = ["CancelledByClientError", "InFlight"]

log = logging.getLogger("ledgergate.mcp")
CHANNEL = "ledgergate:cancel"
T = TypeVar("T")


class CancelledByClientError(Exception):
    """The client cancelled the request; it expects no result."""


class InFlight:
    def __init__(self, redis_url: str | None) -> None:
        self._calls: dict[tuple[str, str], asyncio.Task[Any]] = {}
        self._redis = aioredis.Redis.from_url(redis_url) if redis_url else None
        self._reader: asyncio.Task[None] | None = None

    @staticmethod
    def _key(session_id: str, request_id: Any) -> tuple[str, str]:
        return session_id, msgspec.json.encode(request_id).decode()  # 1 and "1" are different ids

    async def run(self, session_id: str, request_id: Any, call: Callable[[], Awaitable[T]]) -> T:
        """Run ``call`` so the client can cancel it. Raises: CancelledByClientError."""
        if self._redis is not None and (self._reader is None or self._reader.done()):
            self._reader = asyncio.create_task(self._listen(), name="cancellations")
        key = self._key(session_id, request_id)
        task = asyncio.ensure_future(call())
        self._calls[key] = task
        try:
            return await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():  # our caller is cancelled, not the call
                task.cancel()
                raise
            raise CancelledByClientError from None
        finally:
            if self._calls.get(key) is task:
                del self._calls[key]

    async def cancel(self, session_id: str, request_id: Any) -> None:
        if self._cancel_here(self._key(session_id, request_id)):
            return
        if self._redis is not None:
            with contextlib.suppress(RedisError):
                await self._redis.publish(CHANNEL, msgspec.json.encode([session_id, request_id]))

    def _cancel_here(self, key: tuple[str, str]) -> bool:
        task = self._calls.get(key)
        if task is None:
            return False
        task.cancel()
        return True

    async def _listen(self) -> None:
        assert self._redis is not None
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(CHANNEL)
            while True:
                try:
                    message = await pubsub.get_message(timeout=1.0)
                except RedisError:
                    log.warning("cancellation relay lost Redis; retrying", exc_info=True)
                    await asyncio.sleep(1.0)
                    continue
                if message is not None:
                    with contextlib.suppress(msgspec.DecodeError, ValueError, TypeError):
                        session_id, request_id = msgspec.json.decode(message["data"])
                        self._cancel_here(self._key(session_id, request_id))
        finally:
            with contextlib.suppress(RedisError):
                await pubsub.aclose()

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        if self._redis is not None:
            await self._redis.aclose()
