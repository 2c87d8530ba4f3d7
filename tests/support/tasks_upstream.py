"""An upstream MCP server of the 2025-11-25 revision that runs tool calls as tasks, written by hand.

    python -m tests.support.tasks_upstream http PORT

The official SDK (2.x) has no tasks, so this is raw JSON-RPC over streamable HTTP (legacy sessions, JSON
answers). It declares ``tasks`` (``list``, ``cancel``, ``requests.tools.call``) and has the tools

- ``slow_sum`` (``execution.taskSupport: "optional"``): ``a + b`` after ``delay_s`` seconds;
- ``report`` (``"required"``): a text after ``delay_s`` seconds; called without ``task`` it is refused -32601;
- ``broken`` (``"optional"``): ends with ``isError``, so its task ends ``failed``;
- ``plain`` (no ``execution``): answers whether its params carried ``task``; with ``task`` it is refused -32601.

A task-augmented call is answered with a ``CreateTaskResult`` at once; ``tasks/get``, ``tasks/result``
(which waits for the end), ``tasks/list`` (two to a page) and ``tasks/cancel`` follow the specification's
rules and error codes. Tasks are the server's, whichever session created them (the server has no
authorization, as a single-user server would).
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import json
import secrets
import sys
import uuid
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26")
TERMINAL = ("completed", "failed", "cancelled")
RELATED = "io.modelcontextprotocol/related-task"
PAGE = 2
SCHEMA = {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}}
TOOLS = [
    {
        "name": "slow_sum",
        "description": "a + b, slowly",
        "inputSchema": SCHEMA,
        "execution": {"taskSupport": "optional"},
    },
    {
        "name": "report",
        "description": "A report that takes a while",
        "inputSchema": {"type": "object", "properties": {"delay_s": {"type": "number"}}},
        "execution": {"taskSupport": "required"},
    },
    {
        "name": "broken",
        "description": "Always fails",
        "inputSchema": {"type": "object"},
        "execution": {"taskSupport": "optional"},
    },
    {"name": "plain", "description": "Says whether it was asked for a task", "inputSchema": {"type": "object"}},
]
SUPPORT = {tool["name"]: (tool.get("execution") or {}).get("taskSupport", "forbidden") for tool in TOOLS}


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z")


class Refused(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Task:
    id: str
    ttl: int
    status: str = "working"
    created: str = field(default_factory=_now)
    updated: str = field(default_factory=_now)
    message: str | None = None
    result: dict[str, Any] | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)
    runner: asyncio.Task[None] | None = None

    def wire(self) -> dict[str, Any]:
        task = {
            "taskId": self.id,
            "status": self.status,
            "createdAt": self.created,
            "lastUpdatedAt": self.updated,
            "ttl": self.ttl,
            "pollInterval": 50,
        }
        return task | ({"statusMessage": self.message} if self.message else {})

    def end(self, status: str, result: dict[str, Any] | None, message: str | None = None) -> None:
        if self.status in TERMINAL:  # a cancelled task stays cancelled
            return
        self.status, self.result, self.message, self.updated = status, result, message, _now()
        self.done.set()


class Server:
    def __init__(self) -> None:
        self.sessions: set[str] = set()
        self.tasks: dict[str, Task] = {}

    async def run_tool(self, name: str, arguments: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        delay = float(arguments.get("delay_s") or 0)
        if delay:
            await asyncio.sleep(delay)
        if name == "slow_sum":
            total = float(arguments.get("a") or 0) + float(arguments.get("b") or 0)
            return {"content": [{"type": "text", "text": f"{total:g}"}]}
        if name == "report":
            return {"content": [{"type": "text", "text": "the report is ready"}]}
        if name == "broken":
            return {"content": [{"type": "text", "text": "it broke"}], "isError": True}
        return {"content": [{"type": "text", "text": json.dumps({"task": "task" in params})}]}

    async def call_tool(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("name")
        if name not in SUPPORT:
            raise Refused(-32602, f"Unknown tool: {name}")
        arguments = params.get("arguments") or {}
        task = params.get("task")
        if task is None:
            if SUPPORT[name] == "required":
                raise Refused(-32601, f"Tool {name} must be called as a task")
            return await self.run_tool(name, arguments, params)
        if SUPPORT[name] == "forbidden":
            raise Refused(-32601, f"Tool {name} has no task support")
        ttl = int(task.get("ttl") or 60_000) if isinstance(task, dict) else 60_000
        created = Task(str(uuid.uuid4()), min(ttl, 600_000))
        self.tasks[created.id] = created

        async def work() -> None:
            result = await self.run_tool(name, arguments, params)
            created.end("failed" if result.get("isError") else "completed", result)

        created.runner = asyncio.ensure_future(work())
        immediate = {"io.modelcontextprotocol/model-immediate-response": f"{name} is running"}
        return {"task": created.wire(), "_meta": immediate}

    def task(self, params: dict[str, Any]) -> Task:
        task = self.tasks.get(str(params.get("taskId")))
        if task is None:
            raise Refused(-32602, "Failed to retrieve task: Task not found")
        return task

    async def dispatch(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        if method == "ping":
            return {}
        if method == "tools/list":
            return {"tools": TOOLS}
        if method == "tools/call":
            return await self.call_tool(params)
        if method == "tasks/get":
            return self.task(params).wire()
        if method == "tasks/result":
            task = self.task(params)
            await task.done.wait()
            if task.status == "cancelled" or task.result is None:
                raise Refused(-32603, "The task was cancelled")
            meta = dict(task.result.get("_meta") or {}) | {RELATED: {"taskId": task.id}}
            return {**task.result, "_meta": meta}
        if method == "tasks/cancel":
            task = self.task(params)
            if task.status in TERMINAL:
                raise Refused(-32602, f"Cannot cancel task: already in terminal status '{task.status}'")
            task.end("cancelled", None, "The task was cancelled by request.")
            if task.runner is not None:
                task.runner.cancel()
            return task.wire()
        if method == "tasks/list":
            return self.list_tasks(params.get("cursor"))
        raise Refused(-32601, f"Method not found: {method}")

    def list_tasks(self, cursor: Any) -> dict[str, Any]:
        start = 0
        if cursor is not None:
            try:
                start = int(base64.urlsafe_b64decode(str(cursor)).decode().removeprefix("at:"))
            except ValueError:
                raise Refused(-32602, "Invalid cursor") from None
        tasks = list(self.tasks.values())
        page: dict[str, Any] = {"tasks": [t.wire() for t in tasks[start : start + PAGE]]}
        if start + PAGE < len(tasks):
            page["nextCursor"] = base64.urlsafe_b64encode(f"at:{start + PAGE}".encode()).decode()
        return page


def _error(request_id: Any, code: int, message: str, status: int = 200) -> JSONResponse:
    return JSONResponse({"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}, status)


def build() -> Starlette:
    server = Server()

    async def post(request: Request) -> Response:
        message = json.loads(await request.body())
        method, request_id = message.get("method"), message.get("id")
        params = message.get("params") or {}
        if method == "initialize":
            session = secrets.token_hex(16)
            server.sessions.add(session)
            asked = params.get("protocolVersion")
            result = {
                "protocolVersion": asked if asked in VERSIONS else VERSIONS[0],
                "capabilities": {
                    "tools": {},
                    "tasks": {"list": {}, "cancel": {}, "requests": {"tools": {"call": {}}}},
                },
                "serverInfo": {"name": "tasks", "version": "1"},
            }
            body = {"jsonrpc": "2.0", "id": request_id, "result": result}
            return JSONResponse(body, headers={"Mcp-Session-Id": session})
        session_id = request.headers.get("mcp-session-id")
        if session_id is None:  # a legacy server: a 2026-07-28 server/discover is refused so
            return _error(None, -32600, "Bad Request: Missing session ID", 400)
        if session_id not in server.sessions:
            return _error(None, -32600, "Session not found", 404)
        if method is None or request_id is None:  # a notification or a response
            return Response(status_code=202)
        try:
            result = await server.dispatch(str(method), params if isinstance(params, dict) else {})
        except Refused as exc:
            return _error(request_id, exc.code, exc.message)
        return JSONResponse({"jsonrpc": "2.0", "id": request_id, "result": result})

    async def other(request: Request) -> Response:
        if request.method == "DELETE":
            server.sessions.discard(request.headers.get("mcp-session-id") or "")
            return Response(status_code=200)
        return Response(status_code=405)

    return Starlette(routes=[Route("/mcp", post, methods=["POST"]), Route("/mcp", other, methods=["GET", "DELETE"])])


if __name__ == "__main__":
    uvicorn.run(build(), host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
