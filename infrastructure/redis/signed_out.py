"""Admin UI sign-outs in Redis, so a session signed out on one worker is refused by every worker.

One key per ended session id, expiring when the session would have expired anyway: the set never
outgrows the sessions that could still be presented."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from redis.exceptions import RedisError

from ledgergate.application.errors import StoreUnavailableError
from ledgergate.infrastructure.redis.health import RedisHealth, sync_client

__all__ = ["RedisSignedOut"]

PREFIX = "ledgergate:ui:signed-out:"


class RedisSignedOut:
    def __init__(self, url: str, health: RedisHealth | None = None) -> None:
        self.client = sync_client(url)
        self.health = health or RedisHealth(url)

    def end(self, sid: str, expires_at: float) -> None:
        """Raises: StoreUnavailableError."""
        ttl = max(1, math.ceil(expires_at - time.time()))
        self._run(lambda: self.client.set(PREFIX + sid, b"1", ex=ttl))

    def ended(self, sid: str) -> bool:
        """Raises: StoreUnavailableError (a session is not taken as live while that can't be known)."""
        return bool(self._run(lambda: self.client.exists(PREFIX + sid)))

    def _run(self, call: Callable[[], Any]) -> Any:
        if not self.health.available():
            raise StoreUnavailableError("the session store (Redis) is unavailable; try again shortly")
        try:
            result = call()
        except RedisError as exc:
            self.health.failed(exc)
            raise StoreUnavailableError("the session store (Redis) is unavailable; try again shortly") from None
        self.health.succeeded()
        return result

    def close(self) -> None:
        self.client.close()
