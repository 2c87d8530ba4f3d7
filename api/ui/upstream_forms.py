"""Register an upstream MCP server from a form: every transport (streamable HTTP, SSE, stdio) and every
auth kind the REST API accepts. The form becomes ``UpstreamCreate`` and goes to the same register use case
(connect, discover, record it all at once); the answer is the upstream's page with its discovery report.

Secrets typed into the form are never sent back to the browser: a refused form asks for them again."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response

from ledgergate.api.schemas import UpstreamCreate, to_fields
from ledgergate.api.ui.access import UiUser
from ledgergate.api.ui.form_kit import error_of, lines_of, pairs_of, rest_body, tags_of, text_of
from ledgergate.api.ui.plumbing import posted, viewer
from ledgergate.api.ui.render import html
from ledgergate.api.ui.upstream_pages import report_redirect
from ledgergate.application.errors import ApplicationError

__all__ = ["register", "register_page"]

TRANSPORTS = ("streamable_http", "sse", "stdio")
AUTH_KINDS = ("none", "bearer", "headers", "oauth_client_credentials")
SECRETS = frozenset({"auth_token", "auth_headers", "auth_client_secret"})
NUMBERS = {"refresh_interval_s": int, "timeout_s": float, "concurrency_limit": int}
Field = tuple[str, str, str, dict[str, Any]]
FIELDS: tuple[Field, ...] = (
    ("name", "Name", "input", {"help": "Prefixes the names of what it brings (name__tool)"}),
    ("description", "Description", "textarea", {"rows": 2}),
    ("transport", "Transport", "select", {"choices": TRANSPORTS}),
    ("url", "URL", "input", {"group": "http-only", "help": "e.g. https://mcp.example.com/mcp"}),
    ("command", "Command", "input", {"group": "stdio-only", "help": "Run on the gateway's host (platform admins)"}),
    ("args", "Arguments (one a line)", "textarea", {"group": "stdio-only", "rows": 3}),
    ("env", "Environment (NAME=value, one a line)", "textarea", {"group": "stdio-only", "rows": 2}),
    ("cwd", "Working directory", "input", {"group": "stdio-only"}),
    ("auth_type", "Authentication", "select", {"choices": AUTH_KINDS}),
    ("auth_token", "Bearer token", "password", {"group": "auth-bearer"}),
    ("auth_headers", "Headers (Name: value, one a line)", "textarea", {"group": "auth-headers", "rows": 2}),
    ("auth_token_url", "Token URL", "input", {"group": "auth-oauth"}),
    ("auth_client_id", "Client ID", "input", {"group": "auth-oauth"}),
    ("auth_client_secret", "Client secret", "password", {"group": "auth-oauth"}),
    ("auth_scope", "Scope", "input", {"group": "auth-oauth"}),
    ("prefix_enabled", "Prefix names with the upstream's name", "checkbox", {}),
    ("prefix_separator", "Prefix separator", "input", {}),
    ("session_mode", "Sessions", "select", {"choices": ("shared", "per_client")}),
    ("refresh_interval_s", "Refresh every (seconds, empty: never)", "input", {}),
    ("timeout_s", "Timeout (seconds)", "input", {}),
    ("concurrency_limit", "Calls in flight at most", "input", {}),
    ("tags", "Tags (comma separated)", "input", {}),
)
BLANK = {name: "" for name, *_ in FIELDS} | {
    "transport": "streamable_http",
    "auth_type": "none",
    "prefix_enabled": "on",
    "prefix_separator": "__",
    "session_mode": "shared",
    "timeout_s": "60",
    "concurrency_limit": "64",
}


def _number(form: dict[str, Any], name: str) -> Any:
    """A number typed in a field; what does not read as one goes to the API's decoding, which names it."""
    raw = text_of(form, name)
    if raw is None:
        return None
    try:
        return NUMBERS[name](raw)
    except ValueError:
        return raw


def _auth(form: dict[str, Any]) -> dict[str, Any]:
    kind = text_of(form, "auth_type") or "none"
    auth: dict[str, Any] = {"type": kind}
    if kind == "bearer":
        auth["token"] = text_of(form, "auth_token") or ""
    elif kind == "headers":
        auth["headers"] = pairs_of(form, "auth_headers", ":")
    elif kind == "oauth_client_credentials":
        for name in ("token_url", "client_id", "client_secret", "scope"):
            value = text_of(form, f"auth_{name}")
            if value is not None:
                auth[name] = value
    return auth


def body_of(form: dict[str, Any]) -> dict[str, Any]:
    """The ``UpstreamCreate`` body a form means. Raises: ValidationError naming the field."""
    transport = text_of(form, "transport") or ""
    body: dict[str, Any] = {
        "name": text_of(form, "name") or "",
        "transport": transport,
        "description": text_of(form, "description"),
        "auth": _auth(form),
        "prefix": {
            "enabled": form.get("prefix_enabled") == "on",
            "separator": text_of(form, "prefix_separator") or "__",
        },
        "session_mode": text_of(form, "session_mode") or "shared",
        "tags": tags_of(form),
    }
    if transport == "stdio":
        body |= {"command": text_of(form, "command"), "args": lines_of(form, "args"), "env": pairs_of(form, "env", "=")}
        body["cwd"] = text_of(form, "cwd")
    else:
        body["url"] = text_of(form, "url")
    for name in NUMBERS:
        value = _number(form, name)
        if value is not None:
            body[name] = value
    return body


def _page(user: UiUser, tenant: str, form: dict[str, Any], error: ApplicationError | None) -> Response[str]:
    detail, field = error_of(error)
    if field == "auth":  # the API names the object; the form shows it under the kind
        field = "auth_type"
    values = {name: str(form.get(name, "")) for name in BLANK if name not in SECRETS}
    return html(
        "upstream_form.html",
        422 if error is not None else 200,
        user=user,
        tenant=tenant,
        fields=FIELDS,
        form=values,
        error=detail,
        field=field,
    )


async def register_page(request: Request[Any, Any, Any], tenant: str) -> Response[str]:
    user = await viewer(request)
    user.principal.allow(tenant, "admin")
    return _page(user, tenant, BLANK, None)


async def register(request: Request[Any, Any, Any], tenant: str) -> Response[str]:
    """Admins register; a stdio upstream runs a command on the gateway's host, so it takes a platform admin
    (as on REST). A refusal of what was typed, or an upstream that cannot be reached, is shown on the form."""
    user, form = await posted(request)
    user.principal.allow(tenant, "admin")
    if text_of(form, "transport") == "stdio":
        user.principal.allow(None, "platform-admin")
    envelope = user.principal.envelope(tenant)
    try:
        fields = to_fields(rest_body(UpstreamCreate, body_of(form)))
        written, report = await request.app.state.upstreams.register(envelope, fields)
    except ApplicationError as exc:
        if exc.problem == "forbidden":
            raise
        return _page(user, tenant, form, exc)
    return report_redirect(request, tenant, written.id, written.position, report, "Discovered")
