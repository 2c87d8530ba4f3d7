"""Sessions in Redis, so any worker on any host can serve any request of a session."""

from __future__ import annotations

import msgspec
import redis.asyncio as aioredis

from application.sessions import McpSession

__all__ = ["RedisSessionStore"]

PREFIX = "ledgergate:session:"


class RedisSessionStore:
    def __init__(self, url: str, ttl_s: int = 24 * 3600) -> None:
        self._redis = aioredis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.ttl_s = ttl_s
        self._decoder = msgspec.json.Decoder(McpSession)

    async def put(self, session: McpSession) -> None:
        await self._redis.set(PREFIX + session.id, msgspec.json.encode(session), ex=self.ttl_s)

    async def get(self, session_id: str) -> McpSession | None:
        raw = await self._redis.getex(PREFIX + session_id, ex=self.ttl_s)
        return self._decoder.decode(raw) if raw else None

    async def delete(self, session_id: str) -> bool:
        return bool(await self._redis.delete(PREFIX + session_id))

    async def count(self) -> int:
        count = 0
        async for _ in self._redis.scan_iter(match=PREFIX + "*", count=1000):
            count += 1
        return count

    async def close(self) -> None:
        await self._redis.aclose()
