"""The playground: call a tool from a form made from its input schema, get a prompt with its arguments,
read a resource, and see what came back, all as the signed-in token through the gateway's MCP path.

MCP serves a token only its own tenant, so the playground does too: a platform admin looking at another
tenant is refused here, as ``/mcp`` would refuse it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery

from ledgergate.api.streaming import position_reached
from ledgergate.api.ui.access import UiUser
from ledgergate.api.ui.playground_calls import call_mcp, shown_result
from ledgergate.api.ui.playground_forms import ArgField, ArgumentError, arguments_from, fields_of, prompt_fields
from ledgergate.api.ui.plumbing import posted, runtime, viewer
from ledgergate.api.ui.render import html
from ledgergate.application.errors import ForbiddenError
from ledgergate.projections.hot_catalog import HotCatalogs, Snapshot, mcp_prompt, mcp_tool

__all__ = ["playground_call", "playground_page"]

KINDS = {"tools": "tools/call", "prompts": "prompts/get", "resources": "resources/read"}
LISTED = 200


def _own_tenant(user: UiUser, wanted: str | None) -> str:
    """Raises: ForbiddenError for another tenant than the token's own."""
    own = user.principal.tenant_id
    if wanted not in (None, "", own):
        raise ForbiddenError(
            f"the playground calls as your token, and MCP serves a token only its own tenant ({own}); "
            "sign in with a token of that tenant"
        )
    return own


async def _snapshot(request: Request[Any, Any, Any], tenant: str, at: int | None) -> Snapshot | None:
    """The tenant's MCP catalog, once it holds the user's last write (``at``), waiting a bounded time."""
    rt = runtime(request)
    hot = rt.hot
    if hot is None:
        return None
    if at is not None:
        await position_reached(_Followed(hot), at, rt.settings.read_wait_s, 0.02)
    return hot.get(tenant, None)


@dataclass(frozen=True)
class _Followed:
    """How far the hot catalogs (what MCP serves) have followed the log."""

    hot: HotCatalogs

    def current(self) -> int:
        return self.hot.position


def _chosen(snapshot: Snapshot | None, kind: str, name: str) -> dict[str, Any] | None:
    """The tool, prompt or resource (as MCP lists it) and its form's fields."""
    if snapshot is None or not name:
        return None
    if kind == "tools" and (row := snapshot.tools.get(name)) is not None:
        tool = mcp_tool(row)
        return {"kind": kind, "name": name, "entry": tool, "fields": fields_of(tool.get("inputSchema"))}
    if kind == "prompts" and (row := snapshot.prompts.get(name)) is not None:
        prompt = mcp_prompt(row)
        return {"kind": kind, "name": name, "entry": prompt, "fields": prompt_fields(prompt.get("arguments") or [])}
    if kind == "resources":
        return {"kind": kind, "name": name, "entry": {"uri": name}, "fields": []}
    return None


def _listing(snapshot: Snapshot | None, q: str) -> dict[str, list[dict[str, Any]]]:
    if snapshot is None:
        return {"tools": [], "prompts": [], "resources": [], "templates": []}

    def names(rows: dict[str, Any]) -> list[str]:
        return sorted(n for n in rows if n.startswith(q))[:LISTED]

    return {
        "tools": [
            {"name": n, "description": snapshot.tools[n]["doc"].get("description")} for n in names(snapshot.tools)
        ],
        "prompts": [
            {"name": n, "description": snapshot.prompts[n]["doc"].get("description")} for n in names(snapshot.prompts)
        ],
        "resources": [{"name": snapshot.resources[u]["doc"].get("name"), "uri": u} for u in names(snapshot.resources)],
        "templates": [{"name": r["doc"].get("name"), "uri": t} for t, r in sorted(snapshot.templates.items())][:LISTED],
    }


def _render(
    user: UiUser,
    tenant: str,
    snapshot: Snapshot | None,
    chosen: dict[str, Any] | None,
    q: str,
    status: int = 200,
    **extra: Any,
) -> Response[str]:
    context = {"values": {}, "errors": {}, "result": None, "sent": None, **extra}
    return html(
        "playground.html", status, user=user, tenant=tenant, q=q, chosen=chosen, **_listing(snapshot, q), **context
    )


@get("/playground", include_in_schema=False)
async def playground_page(
    request: Request[Any, Any, Any],
    tenant: FromQuery[str | None] = None,
    tool: FromQuery[str | None] = None,
    prompt: FromQuery[str | None] = None,
    uri: FromQuery[str | None] = None,
    q: FromQuery[str | None] = None,
    at: FromQuery[int | None] = None,
) -> Response[str]:
    user = await viewer(request)
    own = _own_tenant(user, tenant)
    snapshot = await _snapshot(request, own, at)
    kind, name = ("tools", tool) if tool else ("prompts", prompt) if prompt else ("resources", uri or "")
    chosen = _chosen(snapshot, kind, name or "")
    if name and chosen is None:
        raise NotFoundException(f"no {kind[:-1]} named {name!r} in tenant {own}")
    return _render(user, own, snapshot, chosen, q or "")


def _values(fields: list[ArgField], form: dict[str, Any]) -> dict[str, str]:
    return {f.input_name: str(form.get(f.input_name) or "") for f in fields}


@post("/playground/{kind:str}", include_in_schema=False)
async def playground_call(request: Request[Any, Any, Any], kind: FromPath[str]) -> Response[str]:
    if kind not in KINDS:
        raise NotFoundException(f"no playground for {kind!r}")
    user, form = await posted(request)
    own = _own_tenant(user, str(form.get("tenant") or ""))
    snapshot = await _snapshot(request, own, None)
    name = str(form.get("name") or "").strip()
    chosen = _chosen(snapshot, kind, name)
    if chosen is None:
        raise NotFoundException(f"no {kind[:-1]} named {name!r} in tenant {own}")
    fields: list[ArgField] = chosen["fields"]
    values = _values(fields, form)
    try:
        arguments = arguments_from(fields, form)
    except ArgumentError as exc:
        return _render(user, own, snapshot, chosen, "", 422, values=values, errors=exc.errors)
    if kind == "resources":
        params: dict[str, Any] = {"uri": name}
    else:
        params = {
            "name": name,
            "arguments": {k: str(v) for k, v in arguments.items()} if kind == "prompts" else arguments,
        }
    answer = await call_mcp(request, user, KINDS[kind], params)
    return _render(user, own, snapshot, chosen, "", values=values, result=shown_result(answer), sent=params)
