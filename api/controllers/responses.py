"""Shapes shared by the controllers: what a write answers, and how a list page looks."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Response
from litestar.params import QueryParameter

from ledgergate.application.registry import Written

__all__ = ["POSITION_HEADER", "Cursor", "page", "written"]

POSITION_HEADER = "X-Ledgergate-Position"
#: Where a list page starts: the ``next_cursor`` of the page before; any other value is a 400 invalid-request.
Cursor = Annotated[
    str | None,
    QueryParameter(
        description="The next_cursor of the previous page (omit it for the first page); "
        "a value the API did not issue is a 400 invalid-request problem"
    ),
]


def written(result: Written, status: int = 200, **extra: Any) -> Response[dict[str, Any]]:
    """A write's answer: the entity, its version and the position of its last event (body and header)."""
    body = {"id": result.id, "version": result.version, "position": result.position, **extra}
    return Response(content=body, status_code=status, headers={POSITION_HEADER: str(result.position)})


def page(items: list[dict[str, Any]], next_cursor: str | None) -> dict[str, Any]:
    return {"items": items, "next_cursor": next_cursor}
