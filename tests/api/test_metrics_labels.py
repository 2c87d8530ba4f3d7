"""The cardinality rule of the metrics' labels, and what call log lines may show of arguments."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from ledgergate.api.metrics import OTHER, McpMetrics
from ledgergate.api.observability.calls import MASK, masked


def samples(metrics: McpMetrics, name: str) -> dict[frozenset[tuple[str, str]], float]:
    text = metrics.render().decode()
    return {
        frozenset(s.labels.items()): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


def test_the_same_tool_name_in_two_tenants_is_two_series() -> None:
    metrics = McpMetrics()
    metrics.call("tools/call", "acme", None, "", "lookup", "ok", 0.01)
    metrics.call("tools/call", "globex", None, "", "lookup", "ok", 0.01)
    metrics.call("tools/call", "globex", None, "", "lookup", "error", 0.01)
    found = samples(metrics, "ledgergate_tool_calls_total")
    assert (
        found[frozenset({"tenant": "acme", "server": "", "upstream": "", "tool": "lookup", "outcome": "ok"}.items())]
        == 1
    )
    assert (
        found[frozenset({"tenant": "globex", "server": "", "upstream": "", "tool": "lookup", "outcome": "ok"}.items())]
        == 1
    )


def test_label_values_past_the_cap_are_counted_under_other() -> None:
    metrics = McpMetrics(label_limit=2)
    for tool in ("a", "b", "c", "d"):
        metrics.call("tools/call", "acme", None, "up", tool, "ok", 0.01)
    tools = {dict(labels)["tool"]: value for labels, value in samples(metrics, "ledgergate_tool_calls_total").items()}
    assert tools == {"a": 1, "b": 1, OTHER: 2}
    upstream = samples(metrics, "ledgergate_upstream_requests_total")
    assert {dict(labels)["upstream"] for labels in upstream} == {"up"}


def test_a_forwarded_call_also_counts_as_an_upstream_request() -> None:
    metrics = McpMetrics()
    metrics.call("resources/read", "acme", "srv-1", "files", "file:///etc/passwd", "failed", 0.2)
    reads = samples(metrics, "ledgergate_resource_reads_total")
    assert reads == {
        frozenset({"tenant": "acme", "server": "srv-1", "upstream": "files", "outcome": "failed"}.items()): 1
    }
    assert "file:///etc/passwd" not in metrics.render().decode()  # URIs are never a label


def test_logged_arguments_mask_secret_looking_keys_at_any_depth_and_cut_long_values() -> None:
    given = {
        "city": "Paris",
        "api_key": "k",
        "nested": {"Password": "p", "list": [{"authorization": "a"}]},
        "x": "y" * 900,
    }
    shown = masked(given)
    assert shown["city"] == "Paris" and shown["api_key"] == MASK
    assert shown["nested"]["Password"] == MASK and shown["nested"]["list"][0]["authorization"] == MASK
    assert len(shown["x"]) < 600
