"""Fixed-window rate limits: in this process's memory, or in Redis so every worker shares the count."""

from __future__ import annotations

import threading
import time

import redis.asyncio as aioredis

__all__ = ["InMemoryRateLimiter", "RedisRateLimiter"]


class InMemoryRateLimiter:
    def __init__(self) -> None:
        self._counts: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()

    async def hit(self, key: str, limit: int, window_s: int) -> bool:
        """Count one hit; False when ``key`` is over ``limit`` in the current window."""
        window = int(time.time() // window_s)
        with self._lock:
            if len(self._counts) > 100_000:
                self._counts = {k: v for k, v in self._counts.items() if k[1] >= window}
            count = self._counts[(key, window)] = self._counts.get((key, window), 0) + 1
        return count <= limit

    async def close(self) -> None:
        self._counts.clear()


class RedisRateLimiter:
    def __init__(self, url: str) -> None:
        self._redis = aioredis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)

    async def hit(self, key: str, limit: int, window_s: int) -> bool:
        window = int(time.time() // window_s)
        name = f"ledgergate:rate:{key}:{window}"
        async with self._redis.pipeline(transaction=True) as pipe:
            count, _ = await pipe.incr(name).expire(name, window_s * 2).execute()
        return int(count) <= limit

    async def close(self) -> None:
        await self._redis.aclose()
