"""Streaming a blocking iterator of byte lines (an export) without holding the event loop."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator

import anyio.to_thread

__all__ = ["in_chunks"]


async def in_chunks(lines: Iterator[bytes], size: int = 500) -> AsyncIterator[bytes]:
    """``lines`` read ``size`` at a time on a worker thread, each batch one chunk of the response."""
    while True:
        chunk = await anyio.to_thread.run_sync(lambda: list(itertools.islice(lines, size)))
        if not chunk:
            return
        yield b"".join(chunk)
