"""Positions in the log as the API reads them from clients: whole numbers a database column can hold."""

from __future__ import annotations

from typing import Annotated

from litestar.params import QueryParameter

__all__ = ["MAX_POSITION", "After", "OptionalAfter", "parse_position"]

#: a notification id is a signed 64-bit column on both databases; larger values are no position
MAX_POSITION = 2**63 - 1

After = Annotated[int, QueryParameter(ge=0, le=MAX_POSITION, description="continue after this position")]
OptionalAfter = Annotated[int | None, QueryParameter(ge=0, le=MAX_POSITION, description="continue after this position")]


def parse_position(text: str | None) -> int | None:
    """``text`` as a position (ASCII digits, at most ``MAX_POSITION``), or None when it is not one.

    ``str.isdigit`` alone admits superscripts and other Unicode digits that ``int`` refuses."""
    if not text or not text.isascii() or not text.isdigit() or len(text) > 19:
        return None
    value = int(text)
    return value if value <= MAX_POSITION else None
