"""Redis as a fan-out bus for "the log has grown": any process's write wakes every follower at once.

PostgreSQL already notifies through LISTEN/NOTIFY; with Redis configured the same wake-up reaches
followers on any database (SQLite processes included) and across hosts. Redis is never a source of
truth: a lost message only delays a follower until its next poll, so during an outage a write skips
the publish (it never waits on Redis) and the waker reconnects each second.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable

import redis

from ledgergate.infrastructure.redis.health import RedisHealth, sync_client

__all__ = ["CHANNEL", "RedisLogSignal"]

CHANNEL = "ledgergate:log"


class RedisLogSignal:
    def __init__(self, url: str, channel: str = CHANNEL, health: RedisHealth | None = None) -> None:
        self.url = url
        self.channel = channel
        self.health = health or RedisHealth(url)
        self._client = sync_client(url)

    def publish(self, position: int) -> None:
        if not self.health.available():
            return
        try:
            self._client.publish(self.channel, str(position))
        except redis.RedisError as exc:
            self.health.failed(exc)
        else:
            self.health.succeeded()

    def waker(self) -> Callable[[threading.Event, threading.Event], None]:
        def run(wake: threading.Event, stopped: threading.Event) -> None:
            while not stopped.is_set():
                client = sync_client(self.url)
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                try:
                    pubsub.subscribe(self.channel)
                    self.health.succeeded()
                    wake.set()  # what was written while we were not listening
                    while not stopped.is_set():
                        if pubsub.get_message(timeout=0.5) is not None:
                            wake.set()
                except redis.RedisError as exc:
                    self.health.failed(exc)
                    stopped.wait(1.0)
                finally:
                    with contextlib.suppress(redis.RedisError, OSError):
                        pubsub.close()
                        client.close()

        return run

    def close(self) -> None:
        self._client.close()
