"""What the catalog and upstream forms share: a form's text turned into the REST API's own request body,
decoded as REST decodes it, so an error reads exactly as the API's problem detail says it."""

from __future__ import annotations

from typing import Any

import msgspec

from ledgergate.application.errors import ApplicationError, ValidationError

__all__ = ["error_of", "lines_of", "pairs_of", "rest_body", "tags_of", "text_of", "uploaded"]


def rest_body(cls: type[msgspec.Struct], body: dict[str, Any]) -> msgspec.Struct:
    """The REST body, decoded as REST decodes it. Raises: ValidationError with the message and key the
    API's problem details give (``errors[].message``, ``errors[].key``)."""
    try:
        return msgspec.convert(body, cls)
    except msgspec.ValidationError as exc:
        message, _, where = str(exc).partition(" - at `$.")
        key = where.rstrip("`")
        field = key.split(".", 1)[0].split("[", 1)[0] or None
        raise ValidationError(f"{key}: {message}" if key else message, field=field) from None


def text_of(form: dict[str, Any], name: str) -> str | None:
    """A text field, stripped; None when empty (or when the browser sent a file in its place)."""
    value = form.get(name)
    return (value.strip() or None) if isinstance(value, str) else None


def tags_of(form: dict[str, Any]) -> list[str]:
    return [t.strip() for t in str(text_of(form, "tags") or "").split(",") if t.strip()]


def lines_of(form: dict[str, Any], name: str) -> list[str]:
    return [line.strip() for line in str(text_of(form, name) or "").splitlines() if line.strip()]


def pairs_of(form: dict[str, Any], name: str, separator: str) -> dict[str, str]:
    """``KEY<separator>value`` lines as a mapping. Raises: ValidationError naming the field and the line."""
    pairs: dict[str, str] = {}
    for number, line in enumerate(lines_of(form, name), start=1):
        key, found, value = line.partition(separator)
        if not found or not key.strip():
            raise ValidationError(f"{name}: line {number} is not of the form KEY{separator}value", field=name)
        pairs[key.strip()] = value.strip()
    return pairs


def uploaded(form: dict[str, Any], name: str) -> tuple[bytes, str | None] | None:
    """The bytes and content type of a file a multipart form carries, or None when no file was chosen."""
    value = form.get(name)
    if value is None or isinstance(value, str) or not getattr(value, "filename", ""):
        return None
    value.file.seek(0)
    return value.file.read(), (getattr(value, "content_type", None) or None)


def error_of(exc: ApplicationError | None) -> tuple[str | None, str | None]:
    """The message and the field an error names (None, None without one)."""
    if exc is None:
        return None, None
    field = exc.extra.get("field")
    return exc.detail, str(field) if field else None
