"""HTML from the UI's templates (autoescaped), and the security headers every UI answer carries."""

from __future__ import annotations

import json
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from litestar import Response

__all__ = ["SECURITY_HEADERS", "html", "render"]

#: No inline script or style anywhere: HTMX is a static file and its configuration a meta tag.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}

_env = Environment(
    loader=PackageLoader("ledgergate.api.ui", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["pretty"] = lambda value: json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


def render(template: str, **context: Any) -> str:
    return _env.get_template(template).render(**context)


def html(template: str, status: int = 200, headers: dict[str, str] | None = None, **context: Any) -> Response[str]:
    return Response(
        content=render(template, **context),
        status_code=status,
        media_type="text/html; charset=utf-8",
        headers={**SECURITY_HEADERS, **(headers or {})},
    )
