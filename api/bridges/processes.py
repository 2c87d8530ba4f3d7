"""The stdio server processes of ``translate --stdio``, started ahead of need.

Starting a process (an interpreter and its imports) can take seconds, longer than a client waits for an
answer, so a pool keeps one process started beyond those in use. Each piece of work says whether its process
may take more: a stateless request leaves it reusable, an HTTP session keeps it and ends it.

A pool of stateless processes hands one work only once it has answered a ``server/discover`` (which commits
a server to nothing but the 2026-07-28 era, the only one that pool serves). A process for an HTTP session
must receive nothing before the client's ``initialize`` (an SDK server commits a connection to the era of
its first message), so that pool starts its spare and hands it over as it is.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any, Protocol

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectSendStream
from mcp import StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.shared.message import SessionMessage
from mcp_types import (
    CLIENT_CAPABILITIES_META_KEY,
    PROTOCOL_VERSION_META_KEY,
    JSONRPCError,
    JSONRPCRequest,
    JSONRPCResponse,
)
from mcp_types.version import LATEST_MODERN_VERSION

__all__ = ["ProcessPool", "Work"]

logger = logging.getLogger(__name__)
SPARE_PROCESSES = 1  # ready and idle, beyond the ones in use
IDLE_PROCESSES = 4  # kept for the next burst of concurrent requests; more than this end
WARM_UP_ID = "ledgergate-translate-warm-up"
WARM_UP = JSONRPCRequest(
    jsonrpc="2.0",
    id=WARM_UP_ID,
    method="server/discover",
    params={"_meta": {PROTOCOL_VERSION_META_KEY: LATEST_MODERN_VERSION, CLIENT_CAPABILITIES_META_KEY: {}}},
)
WARM_UP_SECONDS = 30.0


class Work(Protocol):
    async def serve(self, from_child: Any, to_child: Any) -> bool:
        """Use the process's message streams; whether the process may take more work afterwards."""
        ...

    async def fail(self, reason: str) -> None:
        """No process could be started for this work."""
        ...


async def _warm_up(from_child: Any, to_child: Any) -> None:
    """Until the process answers a ``server/discover`` (or has had long enough)."""
    await to_child.send(SessionMessage(WARM_UP))
    with anyio.move_on_after(WARM_UP_SECONDS):
        async for item in from_child:
            message = getattr(item, "message", None)
            if isinstance(message, JSONRPCResponse | JSONRPCError) and message.id == WARM_UP_ID:
                return


class ProcessPool:
    def __init__(self, command: StdioServerParameters, tasks: TaskGroup, *, stateless: bool) -> None:
        self._command = command
        self._stateless = stateless
        self._tasks = tasks
        self._idle: list[MemoryObjectSendStream[Work]] = []
        self._waiting: deque[Work] = deque()
        self._starting = 0

    def warm(self) -> None:
        self._top_up()

    async def submit(self, work: Work) -> None:
        if self._idle:
            self._idle.pop().send_nowait(work)  # the most recently used: the likeliest to be warm
        else:
            self._waiting.append(work)
        self._top_up()

    def _top_up(self) -> None:
        while len(self._idle) + self._starting < SPARE_PROCESSES + len(self._waiting):
            self._starting += 1
            self._tasks.start_soon(self._process)

    def _ready(self, inbox: MemoryObjectSendStream[Work]) -> None:
        if self._waiting:
            inbox.send_nowait(self._waiting.popleft())
        else:
            self._idle.append(inbox)

    async def _process(self) -> None:
        inbox, work_for_me = anyio.create_memory_object_stream[Work](1)
        try:
            async with stdio_client(self._command) as (from_child, to_child):
                if self._stateless:
                    await _warm_up(from_child, to_child)
                self._starting -= 1
                while True:
                    self._ready(inbox)
                    work = await work_for_me.receive()
                    if not await work.serve(from_child, to_child) or len(self._idle) >= IDLE_PROCESSES:
                        return
        except OSError as exc:
            # Not retried on its own: each new piece of work tries again.
            logger.error("cannot start the stdio server %s: %s", self._command.command, exc)
            self._starting -= 1
            waiting, self._waiting = self._waiting, deque()
            for work in waiting:
                await work.fail(f"cannot start the stdio server: {exc}")
            return
        finally:
            if inbox in self._idle:
                self._idle.remove(inbox)
        self._top_up()
