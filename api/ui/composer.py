"""The virtual server composer: a server's members by kind, candidates found by name, add and remove
(one change of its ``*_ids`` worked out from the server as stored, conditional on the version shown), and
what it exposes now."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response

from ledgergate.api.ui.plumbing import form_int, posted, redirect, run, runtime
from ledgergate.application.errors import ValidationError
from ledgergate.application.ports import ItemFilter

__all__ = ["MEMBER_KINDS", "compose", "composer_data"]

#: member kind -> the server field that lists them
MEMBER_KINDS = {"tool": "tool_ids", "resource": "resource_ids", "prompt": "prompt_ids", "upstream": "upstream_ids"}
CANDIDATES = 20


def composer_data(
    request: Request[Any, Any, Any], tenant: str, server: dict[str, Any], find: str, q: str
) -> dict[str, Any]:
    rt = runtime(request)
    members: dict[str, list[dict[str, Any]]] = {}
    for kind, field in MEMBER_KINDS.items():
        rows = [rt.catalog.get_item(tenant, kind, member_id) for member_id in server.get(field) or []]
        members[kind] = [{"id": r["id"], "name": r["doc"].get("name"), "enabled": r["enabled"]} for r in rows if r]
    candidates: list[dict[str, Any]] = []
    if find in MEMBER_KINDS:
        taken = set(server.get(MEMBER_KINDS[find]) or [])
        rows, _ = rt.queries.list(tenant, find, ItemFilter(name_prefix=q or None), None, CANDIDATES)
        candidates = [{"id": r["id"], "name": r["name"]} for r in rows if r["id"] not in taken]
    snapshot = rt.hot.get(tenant, server["id"]) if rt.hot is not None else None
    exposed = {
        kind: sorted(getattr(snapshot, kind)) if snapshot is not None else []
        for kind in ("tools", "resources", "prompts")
    }
    return {"members": members, "candidates": candidates, "find": find, "q": q, "exposed": exposed}


def _compose(request: Request[Any, Any, Any], user: Any, tenant: str, server_id: str, form: dict[str, Any]) -> Any:
    kind, member, op = str(form.get("kind", "")), str(form.get("member", "")), str(form.get("op", ""))
    if kind not in MEMBER_KINDS or op not in ("add", "remove") or not member:
        raise ValidationError("compose: a kind (tool, resource, prompt, upstream), a member id and add or remove")
    envelope = user.principal.envelope(tenant)
    version = form_int(form, "expected_version")
    return runtime(request).registry.change_members(
        envelope, server_id, MEMBER_KINDS[kind], member, op == "add", version
    )


async def compose(request: Request[Any, Any, Any], tenant: str, server_id: str) -> Response[Any]:
    user, form = await posted(request)
    user.principal.allow(tenant, "editor")
    written = await run(_compose, request, user, tenant, server_id, form)
    return redirect(f"/t/{tenant}/servers/{server_id}?at={written.position}")
