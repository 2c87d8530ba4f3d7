"""Change an upstream's settings from a form (admins, as ``PATCH /v1/tenants/{tenant}/upstreams/{id}``).

Its name, transport and prefix are fixed at registration (they name what it brings). Secrets are never
sent to the browser: the stored bearer token or client secret is kept when its field is left empty, and
header and environment values show as the mask, which keeps the stored value (the API's own rule); a
value typed in their place replaces it. What a stdio upstream runs is sent only when it was changed, and
changing it takes a platform admin, as on REST."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response

from ledgergate.api.schemas import UpstreamUpdate, to_fields
from ledgergate.api.ui.access import UiUser
from ledgergate.api.ui.form_kit import error_of, lines_of, pairs_of, rest_body, tags_of, text_of
from ledgergate.api.ui.plumbing import form_int, posted, redirect, run, runtime, viewer
from ledgergate.api.ui.render import html
from ledgergate.api.ui.upstream_forms import AUTH_KINDS, FIELDS, SECRETS, _number
from ledgergate.application.errors import ApplicationError, ValidationError
from ledgergate.application.secrets import MASK

__all__ = ["edit_upstream", "edit_upstream_page"]

FIXED = ("name", "transport", "prefix_enabled", "prefix_separator")
EDITED = tuple(f for f in FIELDS if f[0] not in FIXED)
STDIO = ("command", "args", "env", "cwd")
KEPT = "Stored; leave empty to keep it"


def form_of(upstream: dict[str, Any]) -> dict[str, str]:
    """The form's text for a stored (masked) upstream: secrets empty, or the mask where a line holds one."""
    auth = upstream.get("auth") or {}
    interval = upstream.get("refresh_interval_s")
    return {
        "description": upstream.get("description") or "",
        "url": upstream.get("url") or "",
        "command": upstream.get("command") or "",
        "args": "\n".join(upstream.get("args") or []),
        "env": "\n".join(f"{k}={v}" for k, v in (upstream.get("env") or {}).items()),
        "cwd": upstream.get("cwd") or "",
        "auth_type": auth.get("type") or "none",
        "auth_headers": "\n".join(f"{k}: {v}" for k, v in (auth.get("headers") or {}).items()),
        "auth_token_url": auth.get("token_url") or "",
        "auth_client_id": auth.get("client_id") or "",
        "auth_scope": auth.get("scope") or "",
        "session_mode": upstream.get("session_mode") or "shared",
        "refresh_interval_s": "" if interval is None else str(interval),
        "timeout_s": str(upstream.get("timeout_s", "")),
        "concurrency_limit": str(upstream.get("concurrency_limit", "")),
        "tags": ", ".join(upstream.get("tags") or []),
    }


def _secret(form: dict[str, Any], name: str, stored: Any) -> str:
    """A typed secret, or the mask (keep) when the field is empty and one is stored. Raises: ValidationError."""
    typed = text_of(form, name)
    if typed is not None:
        return typed
    if stored == MASK:
        return MASK
    raise ValidationError(f"{name}: type the secret (none is stored for this kind)", field=name)


def _auth(form: dict[str, Any], stored: dict[str, Any]) -> dict[str, Any]:
    kind = text_of(form, "auth_type") or "none"
    same = stored if stored.get("type") == kind else {}
    auth: dict[str, Any] = {"type": kind}
    if kind == "bearer":
        auth["token"] = _secret(form, "auth_token", same.get("token"))
    elif kind == "headers":
        auth["headers"] = pairs_of(form, "auth_headers", ":")
    elif kind == "oauth_client_credentials":
        for name in ("token_url", "client_id", "scope"):
            if (value := text_of(form, f"auth_{name}")) is not None:
                auth[name] = value
        auth["client_secret"] = _secret(form, "auth_client_secret", same.get("client_secret"))
    return auth


def body_of(form: dict[str, Any], stored: dict[str, Any]) -> dict[str, Any]:
    """The ``UpstreamUpdate`` body a form means for ``stored`` (the masked record). Raises: ValidationError."""
    body: dict[str, Any] = {
        "description": text_of(form, "description"),
        "auth": _auth(form, stored.get("auth") or {}),
        "session_mode": text_of(form, "session_mode") or "shared",
        "refresh_interval_s": _number(form, "refresh_interval_s"),
        "tags": tags_of(form),
    }
    for name in ("timeout_s", "concurrency_limit"):
        if (value := _number(form, name)) is not None:
            body[name] = value
    if stored.get("transport") == "stdio":
        typed = {
            "command": text_of(form, "command"),
            "args": lines_of(form, "args"),
            "env": pairs_of(form, "env", "="),
            "cwd": text_of(form, "cwd"),
        }
        current = {
            "command": stored.get("command"),
            "args": stored.get("args") or [],
            "env": stored.get("env") or {},
            "cwd": stored.get("cwd"),
        }
        body |= {name: typed[name] for name in STDIO if typed[name] != current[name]}
    else:
        body["url"] = text_of(form, "url")
    return body


def _page(
    user: UiUser, tenant: str, upstream: dict[str, Any], form: dict[str, Any], error: ApplicationError | None
) -> Response[str]:
    detail, field = error_of(error)
    if field == "auth":
        field = "auth_type"
    values = {name: str(form.get(name, "")) for name, *_ in EDITED if name not in SECRETS or name == "auth_headers"}
    group = "stdio-only" if upstream.get("transport") == "stdio" else "http-only"
    fields = [
        (name, label, widget, {**options, "placeholder": KEPT} if widget == "password" else options)
        for name, label, widget, options in EDITED
        if options.get("group") not in ("stdio-only", "http-only") or options["group"] == group
    ]
    return html(
        "upstream_edit.html",
        422 if error is not None else 200,
        user=user,
        tenant=tenant,
        upstream=upstream,
        fields=fields,
        kinds=AUTH_KINDS,
        kept=KEPT,
        form=values,
        error=detail,
        field=field,
    )


async def edit_upstream_page(
    request: Request[Any, Any, Any], tenant: str, item_id: str, at: int | None
) -> Response[str]:
    user = await viewer(request)
    user.principal.allow(tenant, "admin")
    upstream = await run(runtime(request).queries.get, tenant, "upstream", item_id, at)
    return _page(user, tenant, upstream, form_of(upstream), None)


def _update(request: Request[Any, Any, Any], user: UiUser, tenant: str, item_id: str, form: dict[str, Any]) -> Any:
    rt = runtime(request)
    # the record the form was made from (its position waits for it), to keep what was left as it was
    stored = rt.queries.get(tenant, "upstream", item_id, form_int(form, "seen_at"))
    fields = to_fields(rest_body(UpstreamUpdate, body_of(form, stored)))
    if set(STDIO) & fields.keys():  # what a stdio upstream runs on the gateway's host
        user.principal.allow(None, "platform-admin")
    return stored, rt.registry.update_upstream(
        user.principal.envelope(tenant), item_id, fields, form_int(form, "expected_version")
    )


async def edit_upstream(request: Request[Any, Any, Any], tenant: str, item_id: str) -> Response[Any]:
    """Refused values are shown on the form with the API's message; nothing is written."""
    user, form = await posted(request)
    user.principal.allow(tenant, "admin")
    try:
        _, written = await run(_update, request, user, tenant, item_id, form)
    except ApplicationError as exc:
        if exc.problem in ("forbidden", "not-found"):
            raise
        upstream = await run(runtime(request).queries.get, tenant, "upstream", item_id, None)
        upstream = {**upstream, "version": form.get("expected_version", upstream.get("version"))}
        return _page(user, tenant, upstream, form, exc)
    return redirect(f"/t/{tenant}/upstreams/{item_id}?at={written.position}")
