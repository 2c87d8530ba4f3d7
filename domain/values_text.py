"""Rules for free text fields."""

from __future__ import annotations

from typing import Any

from ledgergate.domain.errors import InvalidValueError

__all__ = ["optional_text", "required_text"]


def optional_text(field: str, max_length: int, value: Any) -> str | None:
    if value is None:
        return None
    return required_text(field, max_length, value)


def required_text(field: str, max_length: int, value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > max_length:
        raise InvalidValueError(field, f"must be non-empty text of at most {max_length} characters")
    return value
