"""Call limits of one process: a semaphore per upstream and limit (``application.ports.UpstreamCallLimits``)."""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager

__all__ = ["ProcessCallLimits"]


class ProcessCallLimits:
    """At most ``limit`` calls to one upstream at once from this process; further calls wait for a slot.

    A changed limit starts a new semaphore (the calls running under the old one finish under it)."""

    def __init__(self) -> None:
        self._slots: dict[tuple[str, int], asyncio.Semaphore] = {}

    def slot(self, upstream_id: str, limit: int) -> AbstractAsyncContextManager[None]:
        key = (upstream_id, limit)
        semaphore = self._slots.get(key)
        if semaphore is None:
            if len(self._slots) > 10_000:
                self._slots.clear()
            semaphore = self._slots[key] = asyncio.Semaphore(limit)
        return semaphore  # type: ignore[return-value]
