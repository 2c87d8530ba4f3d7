"""Redis fans out "the log has grown" so followers in other processes wake without polling."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis

from ledgergate.api.runtime import build_runtime
from ledgergate.application.registry import PLATFORM_TENANT
from ledgergate.domain.envelope import Envelope
from tests.conftest import make_settings

pytestmark = pytest.mark.redis


def test_a_write_publishes_its_position_on_the_log_channel(tmp_path: Path, redis_url: str) -> None:
    settings = make_settings(tmp_path / "data", LEDGERGATE_REDIS_URL=redis_url)
    subscriber = redis.Redis.from_url(redis_url).pubsub(ignore_subscribe_messages=True)
    subscriber.subscribe("ledgergate:log")
    runtime = build_runtime(settings, follow=False)
    try:
        written = runtime.registry.create_tenant(Envelope(PLATFORM_TENANT, "t", "c", "c"), {"name": "acme"})
        seen = []  # other gateways sharing this Redis publish on the channel too
        deadline = time.monotonic() + 5
        while written.position not in seen and time.monotonic() < deadline:
            message = subscriber.get_message(timeout=0.1)
            if message is not None:
                seen.append(int(message["data"]))
        assert written.position in seen
    finally:
        subscriber.close()
        runtime.close()


def test_a_follower_that_never_polls_still_sees_another_runtimes_write_through_redis(
    tmp_path: Path, redis_url: str
) -> None:
    data = tmp_path / "data"
    writer = build_runtime(make_settings(data, LEDGERGATE_REDIS_URL=redis_url), follow=False)
    reader = build_runtime(make_settings(data, LEDGERGATE_REDIS_URL=redis_url, LEDGERGATE_POLL_MS="600000"))
    try:
        assert reader.follower is not None and reader.follower.caught_up.wait(10)
        written = writer.registry.create_tenant(Envelope(PLATFORM_TENANT, "t", "c", "c"), {"name": "acme"})
        assert reader.board.wait_for(written.position, timeout_s=10)
    finally:
        writer.close()
        reader.close()
