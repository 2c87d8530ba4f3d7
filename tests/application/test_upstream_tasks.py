"""The gateway's task ids: sealed with the instance key and bound to their owner; a tool's ``execution`` kept."""

from __future__ import annotations

import os

import pytest

from ledgergate.application.upstream_catalog import DiscoveredCatalog, plan_items
from ledgergate.application.upstream_tasks import TaskIds, TaskOwner, declared_tasks, runs_as_task
from ledgergate.infrastructure.crypto.request_state import RequestStateSealer, TaskIdSealer

OWNER = TaskOwner("acme", "server-1", "token-1")
KEY = os.urandom(32)


def test_a_sealed_task_id_opens_for_its_owner_on_any_worker_of_the_instance() -> None:
    sealed = TaskIds(TaskIdSealer(KEY)).seal(OWNER, "up-1", "786512e2", "slow_sum")
    opened = TaskIds(TaskIdSealer(KEY)).open(OWNER, sealed)  # another worker: another sealer, the same key
    assert opened is not None and (opened.upstream_id, opened.task_id, opened.tool) == ("up-1", "786512e2", "slow_sum")
    assert "786512e2" not in sealed and "up-1" not in sealed  # the upstream's id is not shown


@pytest.mark.parametrize(
    "owner",
    [
        TaskOwner("other", "server-1", "token-1"),
        TaskOwner("acme", "server-2", "token-1"),
        TaskOwner("acme", None, "token-1"),
        TaskOwner("acme", "server-1", "token-2"),
    ],
)
def test_a_task_id_does_not_open_for_another_tenant_endpoint_or_token(owner: TaskOwner) -> None:
    ids = TaskIds(TaskIdSealer(KEY))
    assert ids.open(owner, ids.seal(OWNER, "up-1", "t-1", "slow_sum")) is None


def test_an_altered_foreign_or_other_kind_of_token_does_not_open() -> None:
    ids = TaskIds(TaskIdSealer(KEY))
    sealed = ids.seal(OWNER, "up-1", "t-1", "slow_sum")
    altered = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    state = RequestStateSealer(KEY).seal({"u": "up-1", "t": "t-1", "n": "slow_sum"}, OWNER.context())
    for given in (altered, "t-1", 7, None, state, TaskIds(TaskIdSealer(os.urandom(32))).seal(OWNER, "u", "t", "n")):
        assert ids.open(OWNER, given) is None


def test_a_create_task_result_carries_the_gateways_id_and_a_plain_result_passes_as_it_came() -> None:
    ids = TaskIds(TaskIdSealer(KEY))
    created = ids.created(
        OWNER, "up-1", "slow_sum", {"task": {"taskId": "t-1", "status": "working"}, "_meta": {"k": 1}}
    )
    opened = ids.open(OWNER, created["task"]["taskId"])
    assert opened is not None and opened.task_id == "t-1"
    assert created["task"]["status"] == "working" and created["_meta"] == {"k": 1}
    plain = {"content": [{"type": "text", "text": "5"}]}
    assert ids.created(OWNER, "up-1", "slow_sum", plain) == plain


def test_what_runs_as_a_task_and_who_declared_tasks() -> None:
    source = {"upstream_id": "up-1", "original": "x"}
    assert runs_as_task({"execution": {"taskSupport": "optional"}, "source": source})
    assert runs_as_task({"execution": {"taskSupport": "required"}, "source": source})
    assert not runs_as_task({"execution": {"taskSupport": "forbidden"}, "source": source})
    assert not runs_as_task({"execution": {"taskSupport": "optional"}, "source": None})  # a gateway tool
    assert not runs_as_task({"source": source})
    assert declared_tasks({"tasks": {}}) and not declared_tasks({}) and not declared_tasks({"tasks": True})


def test_discovery_keeps_a_tools_execution_and_skips_one_with_an_unknown_task_support() -> None:
    tools = [
        {"name": "slow", "inputSchema": {"type": "object"}, "execution": {"taskSupport": "required"}},
        {"name": "odd", "inputSchema": {"type": "object"}, "execution": {"taskSupport": "sometimes"}},
        {"name": "plain", "inputSchema": {"type": "object"}},
    ]
    plan = plan_items("up-1", "up", {"enabled": False}, DiscoveredCatalog("2025-11-25", {}, tools=tools))
    fields = {item.original: item.fields for item in plan.items}
    assert fields["slow"]["execution"] == {"taskSupport": "required"} and fields["plain"]["execution"] is None
    assert [s["name"] for s in plan.skipped] == ["odd"] and "taskSupport" in plan.skipped[0]["reason"]


def test_execution_is_kept_only_from_http_upstreams_that_declare_task_augmented_tool_calls() -> None:
    from mcp.types import ServerCapabilities

    from ledgergate.infrastructure.upstream.mcp_client import _passes_tasks

    declared = ServerCapabilities.model_validate({"tasks": {"cancel": {}, "requests": {"tools": {"call": {}}}}})
    listing_only = ServerCapabilities.model_validate({"tasks": {"list": {}}})
    assert _passes_tasks({"transport": "streamable_http"}, declared)
    assert not _passes_tasks({"transport": "sse"}, declared)  # the SDK hop carries no task
    assert not _passes_tasks({"transport": "stdio"}, declared)
    assert not _passes_tasks({"transport": "streamable_http"}, listing_only)
    assert not _passes_tasks({"transport": "streamable_http"}, ServerCapabilities())
