"""Redis as a fan-out bus for "the log has grown": any process's write wakes every follower at once.

PostgreSQL already notifies through LISTEN/NOTIFY; with Redis configured the same wake-up reaches
followers on any database (SQLite processes included) and across hosts. Redis is never a source of
truth: a lost message only delays a follower until its next poll.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import redis

__all__ = ["CHANNEL", "RedisLogSignal"]

log = logging.getLogger("ledgergate.redis")
CHANNEL = "ledgergate:log"


class RedisLogSignal:
    def __init__(self, url: str, channel: str = CHANNEL) -> None:
        self.url = url
        self.channel = channel
        self._client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)

    def publish(self, position: int) -> None:
        try:
            self._client.publish(self.channel, str(position))
        except redis.RedisError:
            log.warning("could not publish log position %s to Redis", position, exc_info=True)

    def waker(self) -> Callable[[threading.Event, threading.Event], None]:
        def run(wake: threading.Event, stopped: threading.Event) -> None:
            while not stopped.is_set():
                try:
                    pubsub = redis.Redis.from_url(self.url, socket_connect_timeout=2).pubsub(
                        ignore_subscribe_messages=True
                    )
                    pubsub.subscribe(self.channel)
                    wake.set()
                    while not stopped.is_set():
                        if pubsub.get_message(timeout=0.5) is not None:
                            wake.set()
                    pubsub.close()
                except redis.RedisError:
                    log.warning("Redis subscription lost; reconnecting", exc_info=True)
                    stopped.wait(1.0)

        return run

    def close(self) -> None:
        self._client.close()
