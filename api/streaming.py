"""Streaming without holding the event loop or a worker thread: exports in chunks, tails waiting for positions."""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator, Iterator
from typing import Protocol

import anyio.to_thread

__all__ = ["in_chunks", "position_reached"]


async def in_chunks(lines: Iterator[bytes], size: int = 500) -> AsyncIterator[bytes]:
    """``lines`` read ``size`` at a time on a worker thread, each batch one chunk of the response."""
    while True:
        chunk = await anyio.to_thread.run_sync(lambda: list(itertools.islice(lines, size)))
        if not chunk:
            return
        yield b"".join(chunk)


class Positions(Protocol):
    def current(self) -> int: ...


async def position_reached(board: Positions, position: int, timeout_s: float, poll_s: float = 0.1) -> bool:
    """Whether ``board`` reaches ``position`` within ``timeout_s``, waiting on the event loop: a tail that
    waited on a worker thread instead would hold one of the pool's few threads (shared with every
    synchronous handler) for as long as it stays open."""
    deadline = time.monotonic() + timeout_s
    while board.current() < position:
        if time.monotonic() >= deadline:
            return False
        await anyio.sleep(poll_s)
    return True
