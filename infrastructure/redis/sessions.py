"""Sessions in Redis, so any worker on any host can serve any request of a session.

A session is one key (its JSON) whose TTL is the idle time, restarted by each use. Each token and
each tenant has a sorted set of its session ids scored by last use (Redis ``TIME``, so hosts'
clocks don't matter). Opening, using and ending a session are Lua scripts, so quotas hold under any
concurrency: ``open`` drops the members whose keys have expired (score older than the idle time),
gives up the token's least recently used sessions past its quota, refuses past the tenant's, then
stores. ``use`` (every request) is one round trip: membership of the token's and the tenant's sets,
which proves ownership, then ``PEXPIRE`` and two ``ZADD XX``: O(log n). A change of a session
(``change``) is read, apply, and a compare-and-set write that retries when another worker changed the
record in between, so concurrent changes of different fields all hold. The keys of one session live
in different hash slots, so this needs a standalone Redis (or Sentinel), not Redis Cluster.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec
from redis.exceptions import RedisError

from ledgergate.application.sessions import McpSession, SessionLimits, SessionQuotaError, SessionStoreUnavailableError
from ledgergate.infrastructure.redis.health import RedisHealth, async_client

__all__ = ["RedisSessionStore"]

PREFIX = "ledgergate:session:"
BY_TOKEN = "ledgergate:sessions:token:"  # noqa: S105 (a key prefix)
BY_TENANT = "ledgergate:sessions:tenant:"
T = TypeVar("T")

#: Redis 5 and 6 replicate scripts verbatim unless told not to, which TIME before a write needs
_EFFECTS = """
if redis.replicate_commands then redis.replicate_commands() end
"""
_NOW = """
local t = redis.call('TIME')
-- microseconds (exact in a double until 2255): uses within one millisecond keep their order
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
"""

# KEYS: session, token set, tenant set. ARGV: id, value, idle ms, per token, per tenant, session prefix
_OPEN = (
    _EFFECTS
    + _NOW
    + """
local idle = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - idle * 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - idle * 1000)
local evict = math.max(0, redis.call('ZCARD', KEYS[2]) + 1 - tonumber(ARGV[4]))
local held = redis.call('ZCARD', KEYS[3])
if held - evict >= tonumber(ARGV[5]) then
  return {0, held}
end
local answer = {1, held}
if evict > 0 then
  for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, evict - 1)) do
    redis.call('DEL', ARGV[6] .. id)
    redis.call('ZREM', KEYS[3], id)
    table.insert(answer, id)
  end
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, evict - 1)
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', idle)
redis.call('ZADD', KEYS[2], now, ARGV[1])
redis.call('ZADD', KEYS[3], now, ARGV[1])
redis.call('PEXPIRE', KEYS[2], idle)
redis.call('PEXPIRE', KEYS[3], idle)
return answer
"""
)

# KEYS: session, token set, tenant set. ARGV: id, idle ms
_USE = (
    _EFFECTS
    + """
if not redis.call('ZSCORE', KEYS[2], ARGV[1]) or not redis.call('ZSCORE', KEYS[3], ARGV[1]) then
  return false
end
local value = redis.call('GET', KEYS[1])
if not value then
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[3], ARGV[1])
  return false
end
"""
    + _NOW
    + """
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], 'XX', now, ARGV[1])
redis.call('ZADD', KEYS[3], 'XX', now, ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
redis.call('PEXPIRE', KEYS[3], ARGV[2])
return value
"""
)

# KEYS: session. ARGV: id, token set prefix, tenant set prefix
_DELETE = """
local value = redis.call('GET', KEYS[1])
if not value then
  return 0
end
local session = cjson.decode(value)
redis.call('ZREM', ARGV[2] .. session.token_id, ARGV[1])
redis.call('ZREM', ARGV[3] .. session.tenant_id, ARGV[1])
return redis.call('DEL', KEYS[1])
"""


# KEYS: session. ARGV: the value read, the value to write: written only if the record is still the one read
_SWAP = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
return 1
"""

#: reads and compare-and-set writes of one change before giving up (each lost race means another change
#: held); between attempts a random pause growing with each, so that many changes at once spread out
CHANGE_ATTEMPTS = 50
CHANGE_PAUSE_S = 0.002


class RedisSessionStore:
    def __init__(self, url: str, health: RedisHealth, limits: SessionLimits | None = None) -> None:
        self._redis = async_client(url)
        self.health = health
        self.limits = limits or SessionLimits()
        self._idle_ms = max(1, int(self.limits.idle_s * 1000))
        self._decoder = msgspec.json.Decoder(McpSession)
        self._open = self._redis.register_script(_OPEN)
        self._use = self._redis.register_script(_USE)
        self._delete = self._redis.register_script(_DELETE)
        self._swap = self._redis.register_script(_SWAP)

    async def _call(self, call: Callable[[], Awaitable[T]]) -> T:
        """Run one Redis call; its failure becomes the port's error, and the circuit's state."""
        if not self.health.available():
            raise SessionStoreUnavailableError("the session store (Redis) is unreachable; retry shortly")
        try:
            result = await call()
        except RedisError as exc:
            self.health.failed(exc)
            raise SessionStoreUnavailableError("the session store (Redis) is unreachable; retry shortly") from exc
        self.health.succeeded()
        return result

    async def open(self, session: McpSession) -> list[str]:
        keys = [PREFIX + session.id, BY_TOKEN + session.token_id, BY_TENANT + session.tenant_id]
        value = msgspec.json.encode(session)
        args: list[str | bytes | int] = [session.id, value, self._idle_ms, self.limits.per_token]
        args += [self.limits.per_tenant, PREFIX]
        answer: list[Any] = await self._call(lambda: self._open(keys=keys, args=args))
        if not answer[0]:
            raise SessionQuotaError(
                f"tenant {session.tenant_id} holds {answer[1]} sessions, its quota of {self.limits.per_tenant}; "
                "end unused sessions (DELETE) or wait until idle ones expire",
                "tenant",
            )
        return [i.decode() if isinstance(i, bytes) else str(i) for i in answer[2:]]

    async def use(self, session_id: str, tenant_id: str, token_id: str) -> McpSession | None:
        keys = [PREFIX + session_id, BY_TOKEN + token_id, BY_TENANT + tenant_id]
        raw = await self._call(lambda: self._use(keys=keys, args=[session_id, self._idle_ms]))
        return self._decoder.decode(raw) if raw else None

    async def get(self, session_id: str) -> McpSession | None:
        raw = await self._call(lambda: self._redis.get(PREFIX + session_id))
        return self._decoder.decode(raw) if raw else None

    async def put(self, session: McpSession) -> None:
        value = msgspec.json.encode(session)
        await self._call(lambda: self._redis.set(PREFIX + session.id, value, xx=True, keepttl=True))

    async def change(self, session_id: str, apply: Callable[[McpSession], None]) -> McpSession | None:
        key = PREFIX + session_id
        for attempt in range(CHANGE_ATTEMPTS):
            raw = await self._call(lambda: self._redis.get(key))
            if not raw:
                return None
            session = self._decoder.decode(raw)
            apply(session)
            value = msgspec.json.encode(session)
            if value == raw:
                return session
            if await self._call(lambda raw=raw, value=value: self._swap(keys=[key], args=[raw, value])):  # type: ignore[misc]
                return session
            await asyncio.sleep(random.uniform(0, CHANGE_PAUSE_S * (attempt + 1)))  # noqa: S311 - not a secret
        raise SessionStoreUnavailableError("the session kept changing under this change; retry")

    async def delete(self, session_id: str) -> bool:
        args = [session_id, BY_TOKEN, BY_TENANT]
        return bool(await self._call(lambda: self._delete(keys=[PREFIX + session_id], args=args)))

    async def count(self) -> int:
        async def scan() -> int:
            return sum([1 async for _ in self._redis.scan_iter(match=PREFIX + "*", count=1000)])

        return await self._call(scan)

    async def close(self) -> None:
        await self._redis.aclose()
