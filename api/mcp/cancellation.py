"""Client cancellation of calls in flight (``notifications/cancelled`` of legacy sessions).

A call that may go upstream runs as its own task, registered under (session, request id). The
client's ``notifications/cancelled`` may reach any worker: it cancels the task here, or is broadcast
on Redis to every worker, and the one running the call cancels it. Cancelling the task cancels the
upstream request with it (the upstream clients send their own cancellation). Cancellation is
best effort, as the protocol says: while Redis is away it reaches only calls running here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec

from ledgergate.application.sessions import MessageChannels, SessionStoreUnavailableError

__all__ = ["CancelledByClientError", "InFlight"]

CHANNEL = "ledgergate:cancel"
T = TypeVar("T")


class CancelledByClientError(Exception):
    """The client cancelled the request; it expects no result."""


class InFlight:
    def __init__(self, channels: MessageChannels | None) -> None:
        self._calls: dict[tuple[str, str], asyncio.Task[Any]] = {}
        self._channels = channels
        self._listening = False

    @staticmethod
    def _key(session_id: str, request_id: Any) -> tuple[str, str]:
        return session_id, msgspec.json.encode(request_id).decode()  # 1 and "1" are different ids

    async def run(self, session_id: str, request_id: Any, call: Callable[[], Awaitable[T]]) -> T:
        """Run ``call`` so the client can cancel it. Raises: CancelledByClientError."""
        if self._channels is not None and not self._listening:
            self._listening = True
            await self._channels.listen(CHANNEL, self._received)
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
        if self._channels is not None:
            with contextlib.suppress(SessionStoreUnavailableError):
                await self._channels.publish(CHANNEL, msgspec.json.encode([session_id, request_id]))

    def _cancel_here(self, key: tuple[str, str]) -> bool:
        task = self._calls.get(key)
        if task is None:
            return False
        task.cancel()
        return True

    def _received(self, message: bytes) -> None:
        with contextlib.suppress(msgspec.DecodeError, ValueError, TypeError):
            session_id, request_id = msgspec.json.decode(message)
            self._cancel_here(self._key(session_id, request_id))

    async def close(self) -> None:
        if self._channels is not None:
            await self._channels.close()
