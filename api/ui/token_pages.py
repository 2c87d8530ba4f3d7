"""Tokens from the UI (admins): issue one (its JWT shown once, with a copy button) and revoke one,
through the same use cases and lifetime rules as ``POST``/``DELETE /v1/tenants/{tenant}/tokens``.

The issue form carries a random issue key, made when the tokens page is rendered; the token's id derives
from it, so the form sent again (a reload of the answer, a double click, a copy that reached another
worker) issues nothing: the answer says the token was issued and that its secret is not shown again."""

from __future__ import annotations

import secrets
from typing import Any

from litestar import Request, Response

from ledgergate.api.bootstrap import expires_at_of, token_lifetimes
from ledgergate.api.ui.access import UiUser
from ledgergate.api.ui.plumbing import posted, redirect, run, runtime
from ledgergate.api.ui.render import html
from ledgergate.application.errors import AlreadyIssuedError, ApplicationError, ValidationError
from ledgergate.domain.api_token import ROLES, role_rank

__all__ = ["issuable_roles", "issue_token", "new_issue_key", "revoke_token"]

NO_KEY = (
    "This form carries no valid issue key (it may come from a page served before the gateway was upgraded); "
    "nothing was issued. Reload the tokens page and issue the token from its form."
)


def new_issue_key() -> str:
    """The one-time key of a rendered issue form (22 URL-safe characters, 128 random bits)."""
    return secrets.token_urlsafe(16)


def issuable_roles(user: UiUser) -> list[str]:
    """The roles this user may hand out: its own and below (platform-admin is issued by the CLI or REST)."""
    return [role for role in ROLES if role_rank(role) <= role_rank(user.role) and role != "platform-admin"]


def _expires_in(raw: Any) -> int | None:
    text = str(raw or "").strip()
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        raise ValidationError("expires_in_s: a whole number of seconds", field="expires_in_s") from None
    return value


def _issue(request: Request[Any, Any, Any], user: UiUser, tenant: str, form: dict[str, Any]) -> dict[str, Any]:
    rt = runtime(request)
    name = str(form.get("name") or "").strip()
    expires_in = _expires_in(form.get("expires_in_s"))
    ttl = token_lifetimes(rt.settings).lifetime(expires_in, False, expires_in is not None)
    written, token = rt.registry.issue_token(
        user.principal.envelope(tenant),
        user.role,
        name,
        name,
        str(form.get("role") or "viewer"),
        None,
        ttl,
        str(form.get("issue_key") or ""),
    )
    return {"written": written, "token": token, "expires_at": expires_at_of(rt.codec, token), "name": name}


async def issue_token(request: Request[Any, Any, Any], tenant: str) -> Response[Any]:
    user, form = await posted(request)
    user.principal.allow(tenant, "admin")
    try:
        issued = await run(_issue, request, user, tenant, form)
    except AlreadyIssuedError as exc:  # the same form again: no new token, and never the secret again
        return html("token_already_issued.html", 409, user=user, tenant=tenant, **exc.extra)
    except ApplicationError as exc:
        if exc.problem == "forbidden":
            raise
        detail = NO_KEY if exc.extra.get("field") == "issue_key" else exc.detail
        return html("error.html", 422, user=user, tenant=tenant, title="Not issued", detail=detail)
    return html("token_issued.html", 201, user=user, tenant=tenant, **issued)


async def revoke_token(request: Request[Any, Any, Any], tenant: str, token_id: str) -> Response[Any]:
    user, _ = await posted(request)
    user.principal.allow(tenant, "admin")
    envelope = user.principal.envelope(tenant)
    written = await run(runtime(request).registry.revoke_token, envelope, token_id)
    return redirect(f"/t/{tenant}/tokens?at={written.position}")
