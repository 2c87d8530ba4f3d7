"""Leases in Redis (``SET NX PX``), used instead of the database when Redis is configured.

While Redis is unreachable no lease can be taken or renewed: ``try_acquire`` answers False (the
supervisor pauses its probes and watches) instead of raising, and the first call that reaches Redis
again takes the lease back.
"""

from __future__ import annotations

from redis.exceptions import RedisError

from ledgergate.infrastructure.redis.health import RedisHealth, sync_client

__all__ = ["RedisLeases"]

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) and 1 or 0
"""


class RedisLeases:
    def __init__(self, url: str, holder: str, health: RedisHealth) -> None:
        self._redis = sync_client(url)
        self._renew = self._redis.register_script(_RENEW)
        self.holder = holder
        self.health = health

    def try_acquire(self, name: str, ttl_s: float) -> bool:
        if not self.health.available():
            return False
        try:
            held = bool(self._renew(keys=[f"ledgergate:lease:{name}"], args=[self.holder, int(ttl_s * 1000)]))
        except RedisError as exc:
            self.health.failed(exc)
            return False
        self.health.succeeded()
        return held

    def close(self) -> None:
        self._redis.close()
