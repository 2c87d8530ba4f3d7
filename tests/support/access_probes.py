"""The machinery of the access matrix: a route's declared access, the probes it yields, and their tally.

A probe is one request: a route and method, a caller (a role of tenant A, no token, or A's
server-scoped token), and a variant (A's path and ids, B's path and ids, B's ids under A's path,
or a body naming B's items). Its expected outcome follows from the route's ``Access`` alone, so a
route added to the app is probed as soon as its access is declared.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from tests.support.tenant_world import ROLES

__all__ = ["WRITES", "Access", "Answer", "Outcome", "Probe", "Tally", "Variant", "expected_outcome", "fetch", "judge"]

Scope = Literal["public", "platform", "tenant", "tenant-query", "mcp"]
Variant = Literal["own", "own-explicit", "other-tenant", "other-ids", "foreign-refs"]
#: what a probe must get: allowed (past auth), refused (401/403), or hidden (B's item not found)
Outcome = Literal["allowed", "401", "403", "404", "hidden", "filtered", "refs-refused", "unchecked"]
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Access:
    """Who may call a route: ``public``; ``platform`` admins only; a ``tenant`` path (``{tenant}``) or a
    ``tenant-query`` route (``?tenant=``, default the caller's) with ``min_role`` or higher; ``mcp``
    (any token of the tenant, the catalog of the token's tenant). ``past_auth``: an allowed call may
    answer a 4xx (its body cannot be made valid here); otherwise it must be 2xx."""

    scope: Scope
    min_role: str = "client"
    past_auth: bool = False


def rank(role: str) -> int:
    return ROLES.index(role)


def expected_outcome(access: Access, caller: str, variant: Variant, write: bool, route: str) -> Outcome:
    """``caller``: a role of tenant A, ``anonymous``, or ``scoped`` (A's editor limited to A's server)."""
    if access.scope == "public":
        return "allowed"
    if caller == "anonymous":
        return "401"
    if caller == "scoped":
        return scoped_outcome(access, variant, write, route)
    if access.scope == "platform":
        return "allowed" if caller == "platform-admin" else "403"
    if variant == "other-tenant":  # a platform admin may act in every tenant
        return "allowed" if caller == "platform-admin" else "403"
    if access.scope == "mcp":  # the token's tenant decides the catalog, even for a platform admin
        return "hidden" if variant == "other-ids" else "allowed"
    if rank(caller) < rank(access.min_role):
        return "403"
    if variant == "other-ids":
        return "404" if access.scope == "tenant" else "filtered"
    if variant == "foreign-refs":
        return "refs-refused"
    return "allowed"


# -- The server-scoped token ---------------------------------------------------------------------------
# An editor token of A issued with server_ids=[A's server]. MCP honours the limit; on REST it may only
# read the servers it is limited to (docs/architecture.md, "Identity and tokens"): every REST write is
# refused (403), and so is every read but these two.
SCOPED_REST_WRITE_OUTSIDE_ITS_SERVERS: Outcome = "403"
SCOPED_REST_READS = frozenset(
    {"/v1/tenants/{tenant}/servers/{item_id}", "/v1/tenants/{tenant}/servers/{item_id}/history"}
)


def scoped_outcome(access: Access, variant: Variant, write: bool, route: str) -> Outcome:
    if access.scope == "platform":
        return "403"
    if access.scope == "mcp":  # only /servers/{its server}/...; the tenant-wide endpoints refuse it
        if "{server_id}" not in route:
            return "403"
        return "hidden" if variant == "other-ids" else "allowed"
    if variant == "other-tenant":
        return "403"
    if variant == "other-ids":  # refused for its scope (403) or for B's id (404): either way, nothing of B
        return "hidden" if access.scope == "tenant" else "filtered"
    if variant == "foreign-refs":
        return "refs-refused"
    if rank("editor") < rank(access.min_role):
        return "403"
    if write:
        return SCOPED_REST_WRITE_OUTSIDE_ITS_SERVERS
    return "allowed" if route in SCOPED_REST_READS else "403"


@dataclass
class Answer:
    """``rpc_error``: a 2xx whose JSON-RPC answer (on a legacy SSE stream) is an error."""

    status: int
    body: bytes
    headers: httpx.Headers
    rpc_error: bool = False


@dataclass
class Probe:
    method: str
    route: str
    caller: str
    variant: Variant
    expect: Outcome
    send: Callable[[httpx.AsyncClient], Awaitable[tuple[Answer, str]]]  # the answer and what was sent
    check_leak: bool = True
    strict_ok: bool = True

    @property
    def label(self) -> str:
        return f"{self.method} {self.route} as {self.caller} ({self.variant})"


async def fetch(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    token: str | None,
    params: dict[str, str] | None = None,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[Answer, str]:
    """One request; an SSE answer is read until it has been quiet for a moment. Returns what was sent too."""
    sent_headers = {**({"Authorization": f"Bearer {token}"} if token else {}), **(headers or {})}
    content = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else None)
    if content is not None and body is not None and not isinstance(body, bytes):
        sent_headers.setdefault("Content-Type", "application/json")
    request = client.build_request(method, path, params=params, content=content, headers=sent_headers)
    response = await client.send(request, stream=True)
    try:
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            data = await read_stream(response)
        else:
            data = await response.aread()
    finally:
        await response.aclose()
    sent = f"{request.url} {content.decode(errors='replace') if content else ''}"
    return Answer(response.status_code, data, response.headers), sent


async def read_stream(response: httpx.Response, quiet_s: float = 0.3, limit: int = 1 << 20) -> bytes:
    """What an endless SSE stream sends until it pauses for ``quiet_s``."""
    chunks: list[bytes] = []
    iterator = response.aiter_bytes()
    size = 0
    while size < limit:
        try:
            chunk = await asyncio.wait_for(anext(iterator), timeout=quiet_s)
        except (TimeoutError, StopAsyncIteration):
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


@dataclass
class Tally:
    """Counts of one run of the matrix, and what went wrong, one line per failed probe."""

    requests: int = 0
    refused_as_expected: int = 0
    allowed_as_expected: int = 0
    unchecked: int = 0
    wrongly_allowed: int = 0
    wrongly_refused: int = 0
    leaks: int = 0
    server_errors: int = 0
    failures: list[str] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        for name in ("requests", "refused_as_expected", "allowed_as_expected", "unchecked"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in ("wrongly_allowed", "wrongly_refused", "leaks", "server_errors"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.failures.extend(other.failures)

    def summary(self) -> str:
        return (
            f"{self.requests} requests: {self.allowed_as_expected} allowed and {self.refused_as_expected} refused"
            f" as expected, {self.unchecked} not asserted; wrongly allowed: {self.wrongly_allowed}, wrongly"
            f" refused: {self.wrongly_refused}, answers showing B's data: {self.leaks}, 5xx: {self.server_errors}"
        )


def judge(tally: Tally, probe: Probe, answer: Answer, sent: str, markers: set[str]) -> None:
    """Count ``answer`` against what ``probe`` expected; ``markers``: B's names and ids."""
    tally.requests += 1
    status = answer.status
    where = f"{probe.label}: {status} {answer.body[:300]!r}"
    if status >= 500:
        tally.server_errors += 1
        tally.failures.append(f"5xx: {where}")
        return
    if probe.check_leak:
        text = answer.body.decode(errors="replace") + " ".join(f"{k}: {v}" for k, v in answer.headers.items())
        seen = sorted(m for m in markers if m in text and m not in sent)
        if seen:
            tally.leaks += 1
            tally.failures.append(f"B's data {seen} in the answer to {where}")
    refused = status in (401, 403)
    expect = probe.expect
    if answer.rpc_error and expect != "hidden":
        tally.failures.append(f"answered a JSON-RPC error: {where}")
        return
    if expect == "unchecked":
        tally.unchecked += 1
    elif expect == "allowed":
        if refused:
            tally.wrongly_refused += 1
            tally.failures.append(f"wrongly refused: {where}")
        elif probe.strict_ok and not 200 <= status < 300:
            tally.failures.append(f"allowed but not 2xx (make the request valid, or declare past_auth): {where}")
        else:
            tally.allowed_as_expected += 1
    elif expect in ("401", "403"):
        if not refused:
            tally.wrongly_allowed += 1
            tally.failures.append(f"wrongly allowed (expected {expect}): {where}")
        elif str(status) != expect:
            tally.failures.append(f"expected {expect}: {where}")
        else:
            tally.refused_as_expected += 1
    else:
        _judge_hidden(tally, probe, answer, where)


def _judge_hidden(tally: Tally, probe: Probe, answer: Answer, where: str) -> None:
    """B's ids under A's path: 404 (``404``) or 403/404 (``hidden``); a filter naming B's item answers 403,
    404 or a page without B's data (``filtered``); a body naming B's items 403, 404 or 422 (``refs-refused``)."""
    status = answer.status
    accepted = {"404": {404}, "hidden": {403, 404}, "filtered": {403, 404}, "refs-refused": {403, 404, 422}}[
        probe.expect
    ]
    if status in accepted or (200 <= status < 300 and (probe.expect == "filtered" or answer.rpc_error)):
        tally.refused_as_expected += 1
        return
    if 200 <= status < 300:
        tally.wrongly_allowed += 1
        tally.failures.append(f"wrongly allowed (expected {sorted(accepted)}): {where}")
    else:
        tally.failures.append(f"expected {sorted(accepted)}: {where}")
