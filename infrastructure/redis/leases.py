"""Leases in Redis (``SET NX PX``), used instead of the database when Redis is configured."""

from __future__ import annotations

import redis

__all__ = ["RedisLeases"]

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) and 1 or 0
"""


class RedisLeases:
    def __init__(self, url: str, holder: str) -> None:
        self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._renew = self._redis.register_script(_RENEW)
        self.holder = holder

    def try_acquire(self, name: str, ttl_s: float) -> bool:
        return bool(self._renew(keys=[f"ledgergate:lease:{name}"], args=[self.holder, int(ttl_s * 1000)]))

    def close(self) -> None:
        self._redis.close()
