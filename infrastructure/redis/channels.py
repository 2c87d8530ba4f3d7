"""Redis pub/sub channels between the processes of one gateway, with a listener that outlives outages.

One connection listens for every channel this process wants. When Redis goes away the listener
drops it, retries each second, and on reconnecting subscribes again to everything still wanted, so
relays and broadcasts resume by themselves. A publish during an outage raises the port's error at
once (the circuit in ``RedisHealth``) instead of waiting on retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from redis.exceptions import RedisError

from ledgergate.application.sessions import SessionStoreUnavailableError
from ledgergate.infrastructure.redis.health import RedisHealth, async_client

__all__ = ["RedisChannels"]

log = logging.getLogger("ledgergate.redis")
RETRY_S = 1.0


class RedisChannels:
    def __init__(self, url: str, health: RedisHealth) -> None:
        self._redis = async_client(url)
        self.health = health
        self._receivers: dict[str, Callable[[bytes], None]] = {}
        self._pubsub: Any = None  # connected and subscribed to what was wanted, or None
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    async def publish(self, channel: str, message: bytes) -> int:
        if not self.health.available():
            raise SessionStoreUnavailableError("Redis is unreachable: the message cannot reach other workers")
        try:
            receivers = int(await self._redis.publish(channel, message))
        except RedisError as exc:
            self.health.failed(exc)
            raise SessionStoreUnavailableError("Redis is unreachable: the message cannot reach other workers") from exc
        self.health.succeeded()
        return receivers

    async def listen(self, channel: str, receive: Callable[[bytes], None]) -> None:
        self._receivers[channel] = receive
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="redis-channels")
        pubsub = self._pubsub
        if pubsub is not None:
            try:
                await pubsub.subscribe(channel)
            except RedisError as exc:  # the listener reconnects and subscribes to it then
                self.health.failed(exc)
                self._drop(pubsub)

    async def unlisten(self, channel: str) -> None:
        if self._receivers.pop(channel, None) is None:
            return
        pubsub = self._pubsub
        if pubsub is not None:
            try:
                await pubsub.unsubscribe(channel)
            except RedisError as exc:
                self.health.failed(exc)
                self._drop(pubsub)

    def _drop(self, pubsub: Any) -> None:
        if self._pubsub is pubsub:
            self._pubsub = None
            asyncio.get_running_loop().create_task(self._close_quietly(pubsub))

    @staticmethod
    async def _close_quietly(pubsub: Any) -> None:
        with contextlib.suppress(RedisError, OSError, RuntimeError):
            await pubsub.aclose()

    async def _connect(self) -> Any:
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            wanted = set(self._receivers)
            await pubsub.subscribe(*wanted)
            missing = set(self._receivers) - wanted  # listened to while this connection was being made
            if missing:
                await pubsub.subscribe(*missing)
        except BaseException:
            await self._close_quietly(pubsub)
            raise
        self._pubsub = pubsub
        return pubsub

    async def _run(self) -> None:
        """Deliver messages while any channel is wanted; reconnect after every failure."""
        while not self._closed:
            if not self._receivers:
                if self._pubsub is None:
                    return  # no await since the check: a later listen() starts a new task
                pubsub, self._pubsub = self._pubsub, None
                await self._close_quietly(pubsub)
                continue
            pubsub = self._pubsub
            try:
                if pubsub is None:
                    pubsub = await self._connect()
                    self.health.succeeded()
                message = await pubsub.get_message(timeout=1.0)
            except (RedisError, OSError, RuntimeError) as exc:  # RuntimeError: the connection was dropped meanwhile
                self.health.failed(exc)
                if pubsub is not None:
                    self._drop(pubsub)
                await asyncio.sleep(RETRY_S)
                continue
            if message is None or message.get("type") != "message":
                continue
            channel = message["channel"]
            receive = self._receivers.get(channel.decode() if isinstance(channel, bytes) else channel)
            if receive is not None:
                try:
                    receive(message["data"])
                except Exception:  # one receiver's failure must not end delivery to the others
                    log.exception("a receiver of Redis channel %s failed", channel)

    async def close(self) -> None:
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._pubsub is not None:
            await self._close_quietly(self._pubsub)
            self._pubsub = None
        await self._redis.aclose()
