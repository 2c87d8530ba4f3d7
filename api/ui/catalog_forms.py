"""Create and edit forms for resources, prompts and virtual servers, one set of handlers for the three.

Each kind describes its form in a ``FormSpec`` (its fields, the form's text for a stored item, the REST
request body a form means). The body is decoded as REST decodes it and given to the same use case as
``/v1/tenants/{tenant}/{kind}s``, so an error reads as the API's problem detail says it, next to its field.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
from litestar import Request, Response

from ledgergate.api.schemas import to_fields
from ledgergate.api.ui.access import UiUser
from ledgergate.api.ui.form_kit import error_of, rest_body
from ledgergate.api.ui.plumbing import BodyTooLarge, form_int, posted, redirect, run, runtime, too_large, viewer
from ledgergate.api.ui.render import html
from ledgergate.application.errors import ApplicationError

__all__ = ["FormSpec", "check", "create", "edit", "edit_page", "new_page"]

#: problems that are not about what was typed: shown as the error page, not on the form
NOT_ON_THE_FORM = ("forbidden", "not-found")
Preview = Callable[[Request[Any, Any, Any], dict[str, Any], dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class FormSpec:
    kind: str
    plural: str
    #: (name, label, widget, options): widget is input, textarea, file or hidden; options: rows, help
    fields: tuple[tuple[str, str, str, dict[str, Any]], ...]
    blank: dict[str, str]
    #: the form's text for a stored item
    form_of: Callable[[dict[str, Any]], dict[str, str]]
    #: the REST body a form means (``editing``: for an update); raises ValidationError naming the field
    body_of: Callable[[dict[str, Any], bool], dict[str, Any]]
    create_body: type[msgspec.Struct]
    update_body: type[msgspec.Struct]
    multipart: bool = False
    #: the live check's extra answer (a prompt's rendered preview), from the checked fields and the form
    preview: Preview | None = None
    notes: dict[str, str] = field(default_factory=dict)


def _values(spec: FormSpec, form: dict[str, Any]) -> dict[str, str]:
    """What the form shows again: text only (a chosen file is never sent back)."""
    return {
        name: value if isinstance(value := form.get(name, spec.blank.get(name, "")), str) else "" for name in spec.blank
    }


def _page(
    spec: FormSpec,
    user: UiUser,
    tenant: str,
    form: dict[str, Any],
    error: ApplicationError | None,
    item: Any,
    status: int | None = None,
) -> Response[str]:
    detail, field_name = error_of(error)
    return html(
        "catalog_form.html",
        status or (422 if error is not None else 200),
        user=user,
        tenant=tenant,
        spec=spec,
        form=_values(spec, form),
        error=detail,
        field=field_name,
        item=item,
    )


def _fields(spec: FormSpec, form: dict[str, Any], editing: bool) -> dict[str, Any]:
    cls = spec.update_body if editing else spec.create_body
    return to_fields(rest_body(cls, spec.body_of(form, editing)))


async def new_page(request: Request[Any, Any, Any], tenant: str, spec: FormSpec) -> Response[str]:
    user = await viewer(request)
    user.principal.allow(tenant, "editor")
    return _page(spec, user, tenant, spec.blank, None, None)


def _create(request: Request[Any, Any, Any], user: UiUser, tenant: str, spec: FormSpec, form: dict[str, Any]) -> Any:
    fields = _fields(spec, form, editing=False)
    return runtime(request).registry.create_entity(user.principal.envelope(tenant), spec.kind, fields)


def _too_large(request: Request[Any, Any, Any], spec: FormSpec) -> BodyTooLarge:
    return too_large(
        request,
        f"Upload a smaller file, or create the {spec.kind} on the gateway's host with "
        f"`ledgergate {spec.plural} create --file body.json` (the REST body as JSON), which this limit does not bind.",
    )


async def create(request: Request[Any, Any, Any], tenant: str, spec: FormSpec) -> Response[Any]:
    try:
        user, form = await posted(request)
    except BodyTooLarge:  # the form's page again, with the limit and the way around it; nothing was read
        user = await viewer(request)
        user.principal.allow(tenant, "editor")
        return _page(spec, user, tenant, spec.blank, _too_large(request, spec), None, 413)
    user.principal.allow(tenant, "editor")
    try:
        written = await run(_create, request, user, tenant, spec, form)
    except ApplicationError as exc:
        if exc.problem in NOT_ON_THE_FORM:
            raise
        return _page(spec, user, tenant, form, exc, None)
    return redirect(f"/t/{tenant}/{spec.plural}/{written.id}?at={written.position}")


async def edit_page(
    request: Request[Any, Any, Any], tenant: str, spec: FormSpec, item_id: str, at: int | None
) -> Response[str]:
    user = await viewer(request)
    user.principal.allow(tenant, "editor")
    item = await run(runtime(request).queries.get, tenant, spec.kind, item_id, at)
    return _page(spec, user, tenant, spec.form_of(item), None, item)


def _update(
    request: Request[Any, Any, Any], user: UiUser, tenant: str, spec: FormSpec, item_id: str, form: dict[str, Any]
) -> Any:
    fields = _fields(spec, form, editing=True)
    return runtime(request).registry.update_entity(
        user.principal.envelope(tenant), spec.kind, item_id, fields, form_int(form, "expected_version")
    )


async def edit(request: Request[Any, Any, Any], tenant: str, spec: FormSpec, item_id: str) -> Response[Any]:
    try:
        user, form = await posted(request)
    except BodyTooLarge:
        user = await viewer(request)
        user.principal.allow(tenant, "editor")
        item = await run(runtime(request).queries.get, tenant, spec.kind, item_id, None)
        return _page(spec, user, tenant, spec.form_of(item), _too_large(request, spec), item, 413)
    user.principal.allow(tenant, "editor")
    try:
        written = await run(_update, request, user, tenant, spec, item_id, form)
    except ApplicationError as exc:
        if exc.problem in NOT_ON_THE_FORM:
            raise
        # the form names what it edits: no read of a projection that may not have caught up yet
        item = {"id": item_id, "name": form.get("name", ""), "version": form.get("expected_version", "")}
        return _page(spec, user, tenant, form, exc, item)
    return redirect(f"/t/{tenant}/{spec.plural}/{item_id}?at={written.position}")


def _check(
    request: Request[Any, Any, Any], user: UiUser, tenant: str, spec: FormSpec, form: dict[str, Any]
) -> dict[str, Any]:
    fields = _fields(spec, form, editing=False)
    runtime(request).registry.check_entity(user.principal.envelope(tenant), spec.kind, fields)
    return spec.preview(request, fields, form) if spec.preview is not None else {}


async def check(request: Request[Any, Any, Any], tenant: str, spec: FormSpec) -> Response[str]:
    """The form validated as it is typed (HTMX): the create use case's dry run, writing nothing, and the
    kind's preview (a prompt rendered from sample arguments)."""
    try:
        user, form = await posted(request)
    except BodyTooLarge:  # said as the form is filled in, before it is sent
        user = await viewer(request)
        user.principal.allow(tenant, "editor")
        detail, field_name = error_of(_too_large(request, spec))
        return html("catalog_check.html", spec=spec, error=detail, field=field_name, preview=None)
    user.principal.allow(tenant, "editor")
    try:
        extra = await run(_check, request, user, tenant, spec, form)
    except ApplicationError as exc:
        if exc.problem == "forbidden":
            raise
        detail, field_name = error_of(exc)
        return html("catalog_check.html", spec=spec, error=detail, field=field_name, preview=None)
    return html("catalog_check.html", spec=spec, error=None, field=None, preview=extra.get("preview"))
