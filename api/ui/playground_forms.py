"""A form for a tool's arguments, generated from its input schema, and the arguments a posted form gives.

Each property of the schema's top level becomes one field: strings a text box, enums a choice, numbers
and integers a number box, booleans a yes/no choice (left unset unless chosen), arrays, objects and
anything else JSON text. A schema without properties is one JSON box for all the arguments. An empty
field is left out of the arguments; the gateway's own validation of the call reports what is missing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = ["ArgField", "arguments_from", "fields_of", "prompt_fields"]

RAW = "__arguments__"
SCALARS = ("string", "number", "integer", "boolean")


@dataclass(frozen=True)
class ArgField:
    name: str
    widget: str  # text, number, integer, boolean, enum, json
    required: bool
    description: str | None = None
    options: tuple[Any, ...] = ()
    default: Any = None

    @property
    def input_name(self) -> str:
        return "arg." + self.name

    def option_text(self, value: Any) -> str:
        return value if isinstance(value, str) else json.dumps(value)


def _type_of(schema: dict[str, Any]) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, list):
        concrete = [k for k in kind if k != "null"]
        kind = concrete[0] if len(concrete) == 1 else None
    return kind if isinstance(kind, str) else None


def _widget(schema: dict[str, Any]) -> str:
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return "enum"
    kind = _type_of(schema)
    return {"string": "text", "number": "number", "integer": "integer", "boolean": "boolean"}.get(kind or "", "json")


def fields_of(schema: Any) -> list[ArgField]:
    """The form's fields; one JSON field (``RAW``) when the schema names no properties."""
    properties = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(properties, dict) or not properties:
        return [ArgField(RAW, "json", False, "All the arguments, as a JSON object")]
    required = set(schema.get("required") or []) if isinstance(schema.get("required"), list) else set()
    out = []
    for name, prop in properties.items():
        prop = prop if isinstance(prop, dict) else {}
        description = prop.get("description") if isinstance(prop.get("description"), str) else None
        options = tuple(prop["enum"]) if _widget(prop) == "enum" else ()
        out.append(ArgField(str(name), _widget(prop), name in required, description, options, prop.get("default")))
    return out


def prompt_fields(arguments: list[dict[str, Any]]) -> list[ArgField]:
    """A prompt's arguments are strings (MCP), each with its own ``required``."""
    return [ArgField(a["name"], "text", bool(a.get("required")), a.get("description")) for a in arguments]


class ArgumentError(ValueError):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def _value(field: ArgField, raw: str) -> Any:
    """Raises: ValueError with what the field needs."""
    if field.widget == "text":
        return raw
    if field.widget == "integer":
        try:
            return int(raw)
        except ValueError:
            raise ValueError("a whole number") from None
    if field.widget == "number":
        try:
            number = float(raw)
        except ValueError:
            raise ValueError("a number") from None
        if number != number or number in (float("inf"), float("-inf")):
            raise ValueError("a finite number")
        return int(number) if number.is_integer() and "." not in raw and "e" not in raw.lower() else number
    if field.widget == "boolean":
        if raw not in ("true", "false"):
            raise ValueError("true or false")
        return raw == "true"
    if field.widget == "enum":
        for option in field.options:
            if field.option_text(option) == raw:
                return option
        raise ValueError("one of the choices")
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"not valid JSON ({exc})") from None


def arguments_from(fields: list[ArgField], form: dict[str, Any]) -> dict[str, Any]:
    """The arguments a posted form gives. Raises: ArgumentError naming each field that does not parse."""
    arguments: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for field in fields:
        raw = str(form.get(field.input_name) or "")
        if field.widget != "text":
            raw = raw.strip()
        if raw == "":
            continue
        try:
            value = _value(field, raw)
        except ValueError as exc:
            errors[field.name] = str(exc)
            continue
        if field.name == RAW:
            if not isinstance(value, dict):
                errors[field.name] = "a JSON object"
                continue
            arguments.update(value)
        else:
            arguments[field.name] = value
    if errors:
        raise ArgumentError(errors)
    return arguments
