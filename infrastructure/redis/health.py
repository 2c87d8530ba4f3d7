"""Whether Redis answers, as this process sees it: one record shared by every Redis adapter.

Adapters report each success and failure. The first failure logs one line and opens the circuit:
calls then fail at once instead of waiting on connection retries, except one trial per
``retry_s``; the first success logs one line and closes it. ``check`` is what ``/ready`` shows: a
``PING``, at most one a second.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

__all__ = ["RedisHealth", "async_client", "sync_client"]

log = logging.getLogger("ledgergate.redis")


def sync_client(url: str, timeout_s: float = 2.0) -> redis.Redis:
    """A client with short timeouts and one retry (a pooled connection Redis closed is replaced at once)
    instead of the client's default of ten with backoff, which would hold every call of an outage for seconds."""
    retry = Retry(ExponentialBackoff(cap=0.05, base=0.01), 1)
    return redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, retry=retry)


def async_client(url: str, timeout_s: float = 2.0) -> redis.asyncio.Redis:
    """The asyncio twin of ``sync_client``."""
    retry = AsyncRetry(ExponentialBackoff(cap=0.05, base=0.01), 1)
    return redis.asyncio.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, retry=retry)


class RedisHealth:
    def __init__(self, url: str, retry_s: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.url = url
        self.retry_s = retry_s
        self._clock = clock
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._next_trial = 0.0
        self._checked_at = -1e9
        self._checked = "ok"
        self._client: redis.Redis | None = None

    @property
    def up(self) -> bool:
        return self._down_since is None

    def available(self) -> bool:
        """Whether to try Redis now: always while it answers; during an outage once per ``retry_s``."""
        if self._down_since is None:
            return True
        with self._lock:
            now = self._clock()
            if now < self._next_trial:
                return False
            self._next_trial = now + self.retry_s
            return True

    def succeeded(self) -> None:
        if self._down_since is None:
            return
        with self._lock:
            if self._down_since is None:
                return
            seconds, self._down_since = self._clock() - self._down_since, None
        log.warning(
            "Redis reachable again after %.1f s; sessions, relays and shared limits resume",
            seconds,
            extra={"fields": {"event": "redis.reachable", "down_s": round(seconds, 3)}},
        )

    def failed(self, error: BaseException) -> None:
        with self._lock:
            self._next_trial = self._clock() + self.retry_s
            if self._down_since is not None:
                return
            self._down_since = self._clock()
        log.error(
            "Redis unreachable (%s: %s): legacy MCP sessions answer 503, limits count per process, until it is back",
            error.__class__.__name__,
            error,
        )

    def check(self) -> str:
        """``"ok"`` or ``"unreachable"``, from a PING at most once a second (``/ready``)."""
        with self._lock:
            now = self._clock()
            if now - self._checked_at < 1.0:
                return self._checked
            self._checked_at = now
            if self._client is None:
                self._client = sync_client(self.url, 0.5)
            client = self._client
        try:
            client.ping()
        except redis.RedisError as exc:
            self.failed(exc)
            self._checked = "unreachable"
        else:
            self.succeeded()
            self._checked = "ok"
        return self._checked

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
