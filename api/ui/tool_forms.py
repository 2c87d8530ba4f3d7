"""Create and edit a tool from a form. The form is turned into the REST API's own request body
(``ToolCreate``/``ToolUpdate``) and given to the same use case, so an error reads exactly as the API's
problem detail says it, shown next to the field it names."""

from __future__ import annotations

import json
from typing import Any

from litestar import Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery

from ledgergate.api.json_limits import BadJson, decode_json
from ledgergate.api.schemas import ToolCreate, ToolUpdate, to_fields
from ledgergate.api.ui.form_kinds import other_check, other_create, other_edit, other_edit_page, other_new_page
from ledgergate.api.ui.form_kit import rest_body
from ledgergate.api.ui.plumbing import form_int, posted, redirect, run, runtime, viewer
from ledgergate.api.ui.render import html
from ledgergate.api.ui.token_pages import issue_token
from ledgergate.application.errors import ApplicationError, ValidationError

__all__ = ["check_tool", "edit_tool", "edit_tool_page", "new_tool", "new_tool_page"]

JSON_FIELDS = ("input_schema", "output_schema", "integration", "annotations")
NEW_TOOL = {
    "name": "",
    "title": "",
    "description": "",
    "tags": "",
    "input_schema": '{\n  "type": "object",\n  "properties": {}\n}',
    "output_schema": "",
    "annotations": "{}",
    "integration": '{\n  "method": "POST",\n  "url": "https://api.example.com/endpoint"\n}',
}


def _tools_only(plural: str) -> None:
    """The tool form, after the other kinds' forms (``api.ui.form_kinds``) had their turn."""
    if plural != "tools":
        raise NotFoundException(f"no form for {plural!r}")


def _text(value: Any) -> str:
    return "" if value is None else json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


def form_of(item: dict[str, Any]) -> dict[str, str]:
    """The form's text for a stored tool."""
    return {
        "name": item.get("name") or "",
        "title": item.get("title") or "",
        "description": item.get("description") or "",
        "tags": ", ".join(item.get("tags") or []),
        **{name: _text(item.get(name)) for name in JSON_FIELDS},
    }


def body_of(form: dict[str, Any]) -> dict[str, Any]:
    """The request body a form means. Raises: ValidationError naming the field."""
    body: dict[str, Any] = {"name": str(form.get("name", "")).strip()}
    for name in ("title", "description"):
        body[name] = str(form.get(name, "")).strip() or None
    body["tags"] = [t.strip() for t in str(form.get("tags", "")).split(",") if t.strip()]
    for name in JSON_FIELDS:
        raw = str(form.get(name, "")).strip()
        if not raw:
            if name == "output_schema":
                body[name] = None
            elif name == "annotations":
                body[name] = {}
            continue
        try:
            body[name] = decode_json(raw.encode())
        except BadJson as exc:
            raise ValidationError(f"{name}: not valid JSON ({exc})", field=name) from None
    return body


def _create(request: Request[Any, Any, Any], user: Any, tenant: str, form: dict[str, Any]) -> Any:
    fields = to_fields(rest_body(ToolCreate, body_of(form)))
    return runtime(request).registry.create_entity(user.principal.envelope(tenant), "tool", fields)


def _update(request: Request[Any, Any, Any], user: Any, tenant: str, item_id: str, form: dict[str, Any]) -> Any:
    fields = to_fields(rest_body(ToolUpdate, body_of(form)))
    return runtime(request).registry.update_entity(
        user.principal.envelope(tenant), "tool", item_id, fields, form_int(form, "expected_version")
    )


def _form_page(
    user: Any, tenant: str, form: dict[str, Any], error: ApplicationError | None, **extra: Any
) -> Response[str]:
    status = 422 if error is not None else 200
    field = error.extra.get("field") if error is not None else None
    detail = error.detail if error is not None else None
    values = {name: str(form.get(name, NEW_TOOL[name])) for name in NEW_TOOL}
    return html("tool_form.html", status, user=user, tenant=tenant, form=values, error=detail, field=field, **extra)


@get("/t/{tenant:str}/{plural:str}/new", include_in_schema=False)
async def new_tool_page(request: Request[Any, Any, Any], tenant: FromPath[str], plural: FromPath[str]) -> Response[Any]:
    if (other := await other_new_page(request, tenant, plural)) is not None:
        return other
    _tools_only(plural)
    user = await viewer(request)
    user.principal.allow(tenant, "editor")
    return _form_page(user, tenant, NEW_TOOL, None, item=None)


@post("/t/{tenant:str}/{plural:str}/new", include_in_schema=False)
async def new_tool(request: Request[Any, Any, Any], tenant: FromPath[str], plural: FromPath[str]) -> Response[Any]:
    if plural == "tokens":  # one route for every kind's "new"; tokens are issued, not edited
        return await issue_token(request, tenant)
    if (other := await other_create(request, tenant, plural)) is not None:
        return other
    _tools_only(plural)
    user, form = await posted(request)
    user.principal.allow(tenant, "editor")
    try:
        written = await run(_create, request, user, tenant, form)
    except (ValidationError, ApplicationError) as exc:
        if exc.problem == "forbidden":
            raise
        return _form_page(user, tenant, form, exc, item=None)
    return redirect(f"/t/{tenant}/tools/{written.id}?at={written.position}")


def _check(request: Request[Any, Any, Any], user: Any, tenant: str, form: dict[str, Any]) -> None:
    fields = to_fields(rest_body(ToolCreate, body_of(form)))
    runtime(request).registry.check_entity(user.principal.envelope(tenant), "tool", fields)


@post("/t/{tenant:str}/{plural:str}/check", include_in_schema=False, status_code=200)
async def check_tool(request: Request[Any, Any, Any], tenant: FromPath[str], plural: FromPath[str]) -> Response[Any]:
    """The new-tool form validated as it is typed (HTMX): the create use case's dry run, writing nothing."""
    if (other := await other_check(request, tenant, plural)) is not None:
        return other
    _tools_only(plural)
    user, form = await posted(request)
    user.principal.allow(tenant, "editor")
    try:
        await run(_check, request, user, tenant, form)
    except ApplicationError as exc:
        if exc.problem == "forbidden":
            raise
        return html("tool_check.html", error=exc.detail, field=exc.extra.get("field"))
    return html("tool_check.html", error=None, field=None)


@get("/t/{tenant:str}/{plural:str}/{item_id:str}/edit", include_in_schema=False)
async def edit_tool_page(
    request: Request[Any, Any, Any],
    tenant: FromPath[str],
    plural: FromPath[str],
    item_id: FromPath[str],
    at: FromQuery[int | None] = None,
) -> Response[Any]:
    if (other := await other_edit_page(request, tenant, plural, item_id, at)) is not None:
        return other
    _tools_only(plural)
    user = await viewer(request)
    user.principal.allow(tenant, "editor")
    item = await run(runtime(request).queries.get, tenant, "tool", item_id, at)
    return _form_page(user, tenant, form_of(item), None, item=item)


@post("/t/{tenant:str}/{plural:str}/{item_id:str}/edit", include_in_schema=False)
async def edit_tool(
    request: Request[Any, Any, Any], tenant: FromPath[str], plural: FromPath[str], item_id: FromPath[str]
) -> Response[Any]:
    if (other := await other_edit(request, tenant, plural, item_id)) is not None:
        return other
    _tools_only(plural)
    user, form = await posted(request)
    user.principal.allow(tenant, "editor")
    try:
        written = await run(_update, request, user, tenant, item_id, form)
    except ApplicationError as exc:
        if exc.problem in ("forbidden", "not-found"):
            raise
        # the form names what it edits: no read of a projection that may not have caught up yet
        item = {"id": item_id, "name": form.get("name", ""), "version": form.get("expected_version", "")}
        return _form_page(user, tenant, form, exc, item=item)
    return redirect(f"/t/{tenant}/tools/{item_id}?at={written.position}")
