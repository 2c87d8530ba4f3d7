"""``OPTIONS`` answers ``Allow`` with every method of the path.

Litestar 2 builds a path's OPTIONS handler when the path's first handler is registered and keeps it when
later handlers join the same path, so ``Allow`` listed only the first one's methods (litestar#4169, fixed
in Litestar 3 only). This hook answers OPTIONS from the finished route table instead. CORS preflights
never get here: the CORS middleware answers them first.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar, Request, Response
from litestar.routes import HTTPRoute

__all__ = ["answer_options"]


def _allowed(app: Litestar) -> dict[str, str]:
    allowed: dict[str, str] | None = getattr(app.state, "allowed_methods", None)
    if allowed is None:
        allowed = {
            route.path_format: ", ".join(sorted(route.methods)) for route in app.routes if isinstance(route, HTTPRoute)
        }
        app.state.allowed_methods = allowed
    return allowed


async def answer_options(request: Request[Any, Any, Any]) -> Response[None] | None:
    """A ``before_request`` hook (async: a sync one would cost every request a thread hop): a 204 with ``Allow``
    for OPTIONS; every other method goes on to its handler."""
    if request.method != "OPTIONS":
        return None
    allow = _allowed(request.app).get(request.scope.get("path_template", ""), "OPTIONS")
    return Response(content=None, status_code=204, headers={"Allow": allow})
