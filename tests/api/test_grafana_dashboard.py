"""The Grafana dashboard in deploy/grafana only charts metrics that ``/metrics`` declares."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.api.conftest import Api

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "ledgergate.json"
NAME = re.compile(r"\b((?:ledgergate|process|python)_[a-z_]+)")


def test_every_metric_the_dashboard_charts_is_declared_by_the_gateway(api: Api) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    charted = {name for panel in dashboard["panels"] for t in panel["targets"] for name in NAME.findall(t["expr"])}
    assert len(charted) > 10
    text = api.call("GET", "/metrics").text
    declared = set(re.findall(r"^# TYPE (\S+) ", text, re.M))
    missing = {n for n in charted if n not in declared and re.sub(r"_(bucket|count|sum)$", "", n) not in declared}
    assert not missing, missing
