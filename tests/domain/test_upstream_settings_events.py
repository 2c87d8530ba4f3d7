"""Which events of an upstream's stream change its settings (and so make an edit against an earlier
version a conflict): every event but the ones the gateway records by itself (health, syncs, suspensions)."""

from __future__ import annotations

from ledgergate.domain.envelope import recording
from ledgergate.domain.upstream import Upstream
from tests.domain.builders import ENVELOPE, event_names, replay


def test_health_syncs_and_suspensions_do_not_change_settings_and_every_other_event_does() -> None:
    with recording(ENVELOPE):
        upstream = Upstream(
            fields=Upstream.normalise({**Upstream.DEFAULTS, "name": "beta", "transport": "sse", "url": "http://a/mcp"})
        )
        upstream.sync({"1": {"kind": "tool", "original": "echo"}})
        upstream.record_health("healthy", None)
        upstream.update({"description": "edited"})
        upstream.suspend(["1"])
        upstream.disable()
        upstream.enable()
        upstream.revert(2, upstream.state())
        upstream.delete()
    events = upstream.collect_events()

    changed = {type(e).__name__: Upstream.changes_settings(e) for e in events}

    assert changed == {
        "Registered": True,
        "CatalogSynced": False,
        "HealthChanged": False,
        "Updated": True,
        "ItemsSuspended": False,
        "Disabled": True,
        "Enabled": True,
        "Reverted": True,
        "Deleted": True,
    }
    assert event_names(events) == list(changed)  # one of each
    assert replay(events).version == len(events)
