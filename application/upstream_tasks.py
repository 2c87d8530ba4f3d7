"""Tasks (2025-11-25, experimental) of upstream tools, passed through with no state of the gateway's own.

A client that declared ``tasks`` may call a tool whose ``execution.taskSupport`` is ``optional`` or
``required`` with a ``task`` param; the call goes to the tool's upstream with it, and the upstream's
``CreateTaskResult`` comes back with a task id of the gateway's own: the upstream's id, the upstream and
the tool's exposed name, sealed (authenticated encryption with a key derived from the instance's master key)
and bound to its owner, the tenant, the virtual server and the token that created it. Any worker opens it,
so ``tasks/get``, ``tasks/result`` and ``tasks/cancel`` reach the owning upstream wherever they land; an id
of another owner, or altered, fails its check like an unknown one (-32602).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ledgergate.application.held_calls import StateSealer

__all__ = ["RELATED_TASK", "TASK_METHODS", "OpenedTask", "TaskIds", "TaskOwner", "declared_tasks", "runs_as_task"]

RELATED_TASK = "io.modelcontextprotocol/related-task"
#: the methods on a task the gateway routes to its upstream (``tasks/list`` is not offered, see docs)
TASK_METHODS = frozenset({"tasks/get", "tasks/result", "tasks/cancel"})


def declared_tasks(capabilities: Any) -> bool:
    """Whether a client declared the ``tasks`` capability (an object)."""
    return isinstance(capabilities, dict) and isinstance(capabilities.get("tasks"), dict)


def runs_as_task(doc: dict[str, Any]) -> bool:
    """A tool that may or must run as a task: discovered from an upstream that can run it so."""
    execution = doc.get("execution")
    support = execution.get("taskSupport") if isinstance(execution, dict) else None
    return support in ("optional", "required") and bool(doc.get("source"))


@dataclass(frozen=True)
class TaskOwner:
    """Whose task it is: only the same token, on the same endpoint of the same tenant, reaches it."""

    tenant_id: str
    server_id: str | None
    token_id: str

    def context(self) -> bytes:
        return "\x1f".join(("task", self.tenant_id, self.server_id or "", self.token_id)).encode()


@dataclass(frozen=True)
class OpenedTask:
    upstream_id: str
    task_id: str  # the upstream's own
    tool: str  # the exposed name of the tool that created it


class TaskIds:
    def __init__(self, sealer: StateSealer) -> None:
        self.sealer = sealer

    def seal(self, owner: TaskOwner, upstream_id: str, task_id: str, tool: str) -> str:
        return self.sealer.seal({"u": upstream_id, "t": task_id, "n": tool}, owner.context())

    def open(self, owner: TaskOwner, sealed: Any) -> OpenedTask | None:
        """The task a gateway task id stands for; None if it is not one this owner was given."""
        if not isinstance(sealed, str):
            return None
        claims = self.sealer.open(sealed, owner.context())
        if claims is None or not all(isinstance(claims.get(k), str) for k in ("u", "t", "n")):
            return None
        return OpenedTask(claims["u"], claims["t"], claims["n"])

    def created(self, owner: TaskOwner, upstream_id: str, tool: str, result: dict[str, Any]) -> dict[str, Any]:
        """An upstream's ``CreateTaskResult`` with the gateway's task id in place of the upstream's (an upstream
        that ran the call at once, ignoring ``task``, answers a plain result: it passes as it came)."""
        task = result.get("task")
        if not isinstance(task, dict) or not isinstance(task.get("taskId"), str):
            return result
        sealed = self.seal(owner, upstream_id, task["taskId"], tool)
        return {**result, "task": {**task, "taskId": sealed}}
