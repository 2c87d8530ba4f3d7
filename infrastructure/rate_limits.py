"""Fixed-window rate limits: in this process's memory, or in Redis so every worker shares the count.

While Redis is unreachable the Redis limiter counts in this process instead (each worker then
allows the limit on its own), as the rate limiters of Envoy and Kong fail open: a limit is a
protection, not a reason to refuse every call while its counter is away.
"""

from __future__ import annotations

import threading
import time

from redis.exceptions import RedisError

from ledgergate.infrastructure.redis.health import RedisHealth, async_client

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
    def __init__(self, url: str, health: RedisHealth) -> None:
        self._redis = async_client(url)
        self.health = health
        self._local = InMemoryRateLimiter()

    async def hit(self, key: str, limit: int, window_s: int) -> bool:
        if not self.health.available():
            return await self._local.hit(key, limit, window_s)
        window = int(time.time() // window_s)
        name = f"ledgergate:rate:{key}:{window}"
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                count, _ = await pipe.incr(name).expire(name, window_s * 2).execute()
        except RedisError as exc:
            self.health.failed(exc)
            return await self._local.hit(key, limit, window_s)
        self.health.succeeded()
        return int(count) <= limit

    async def close(self) -> None:
        await self._redis.aclose()
        await self._local.close()
