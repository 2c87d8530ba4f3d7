"""``PATCH /v1/tenants/{tenant}/upstreams/{id}`` with ``If-Match``, in process on SQLite and PostgreSQL,
against a real upstream MCP server that the gateway's own supervisor probes: the health it records
meanwhile leaves the version the user loaded good; a change of the upstream's settings makes it a 409."""

from __future__ import annotations

import time
from typing import Any

from tests.api.conftest import Api
from tests.support.processes import serving

UPSTREAMS = "/v1/tenants/default/upstreams"


def head(api: Api) -> int:
    return int(api.http.app.state.runtime.registry.recorder.max_notification_id() or 0)


def current(api: Api, upstream_id: str) -> dict[str, Any]:
    answer = api.call("GET", f"{UPSTREAMS}/{upstream_id}?min_position={head(api)}")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def probed(api: Api, upstream_id: str, version: int) -> dict[str, Any]:
    """The upstream once the supervisor has recorded its health after ``version`` (its first probe)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        doc = current(api, upstream_id)
        if doc["version"] > version:
            return doc
        time.sleep(0.1)
    raise AssertionError("the supervisor recorded no health of the upstream")


def test_an_if_match_older_only_by_the_supervisors_health_events_is_honoured(api: Api) -> None:
    with serving("tests.support.upstream_server") as url:
        answer = api.call("POST", UPSTREAMS, json={"name": "sdk", "transport": "streamable_http", "url": url})
        assert answer.status_code == 201, answer.text
        upstream_id, loaded = answer.json()["id"], answer.json()["version"]
        seen = probed(api, upstream_id, loaded)
        assert seen["health"]["state"] == "healthy"  # recorded by the supervisor, after the version loaded
        history = api.call("GET", f"/v1/audit?entity={upstream_id}&min_position={head(api)}").json()["items"]
        assert history[-1]["type"].endswith("Upstream.HealthChanged")

        path = f"{UPSTREAMS}/{upstream_id}"
        saved = api.call("PATCH", path, json={"description": "edited"}, headers={"If-Match": str(loaded)})
        assert saved.status_code == 200, saved.text
        assert saved.json()["version"] == seen["version"] + 1

        # a second edit made against the same loaded version comes after a change of the settings
        late = api.call("PATCH", path, json={"description": "late"}, headers={"If-Match": str(loaded)})
        assert late.status_code == 409 and late.json()["type"].endswith("version-conflict"), late.text
        assert late.json()["current_version"] == saved.json()["version"]

        disabled = api.call("POST", f"{path}/disable")
        assert disabled.status_code == 200, disabled.text
        stale = api.call("PATCH", path, json={"timeout_s": 5}, headers={"If-Match": str(saved.json()["version"])})
        assert stale.status_code == 409, stale.text

    stored = current(api, upstream_id)
    assert (stored["description"], stored["timeout_s"], stored["enabled"]) == ("edited", 60.0, False)
