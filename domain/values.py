"""Value rules shared by the aggregates. Each ``check_*`` returns the normalised value or raises."""

from __future__ import annotations

import base64
import binascii
import json
import re
import string
from functools import lru_cache
from typing import Any

from jinja2 import TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

from ledgergate.domain.errors import InvalidValueError
from ledgergate.domain.json_schema import nesting_problem, schema_problem

__all__ = [
    "HTTP_METHODS",
    "SECRET_KEY",
    "as_mcp_name",
    "check_annotations",
    "check_execution",
    "check_input_schema",
    "check_integration",
    "check_mcp_name",
    "check_output_schema",
    "check_prompt_arguments",
    "check_resource_content",
    "check_slug",
    "check_tags",
    "check_template",
    "check_uri",
    "is_secret_ref",
]

MCP_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")
SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?$")
TAG = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")
URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:\S+$")
HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,128}$")
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
AUTH_TYPES = ("none", "bearer", "basic", "header")
#: An encrypted value inside an event: ``{"$secret": {"key_id": ..., "ciphertext": ...}}``.
SECRET_KEY = "$secret"  # noqa: S105 - the marker key of a sealed value
MAX_TIMEOUT_S = 300.0


_NOT_MCP_NAME = re.compile(r"[^A-Za-z0-9_.\-]")


def as_mcp_name(text: str) -> str:
    """``text`` made a valid MCP name where it can be: other characters become '_', at most 128 kept
    (empty when nothing is left)."""
    return _NOT_MCP_NAME.sub("_", text)[:128]


def check_mcp_name(field: str, value: Any) -> str:
    if not isinstance(value, str) or not MCP_NAME.match(value):
        raise InvalidValueError(field, "must be 1-128 characters of A-Z, a-z, 0-9, '_', '.', '-'")
    return value


def check_slug(field: str, value: Any) -> str:
    if not isinstance(value, str) or not SLUG.match(value):
        raise InvalidValueError(
            field, "must be 1-63 lower-case letters, digits or '-', not starting or ending with '-'"
        )
    return value


def check_uri(field: str, value: Any) -> str:
    if not isinstance(value, str) or len(value) > 2048 or not URI.match(value):
        raise InvalidValueError(field, "must be an absolute URI (scheme:rest) of at most 2048 characters")
    return value


def check_tags(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(tag, str) and TAG.match(tag) for tag in value):
        raise InvalidValueError(
            "tags", "must be a list of tags of 1-64 characters of A-Z, a-z, 0-9, '_', '.', ':', '-'"
        )
    return sorted(set(value))


@lru_cache(maxsize=4096)
def _schema_problem(schema_json: str) -> str | None:
    """Checking a schema against the metaschema costs about a millisecond; the same schema is checked once."""
    return schema_problem(json.loads(schema_json))


def _check_schema(field: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidValueError(field, "must be a JSON Schema object")
    problem = nesting_problem(value) or _schema_problem(json.dumps(value, sort_keys=True, default=str))
    if problem is not None:
        raise InvalidValueError(field, f"is not a valid JSON Schema: {problem}")
    if value.get("type") != "object":
        raise InvalidValueError(field, 'must describe an object ("type": "object")')
    return value


def check_input_schema(value: Any) -> dict[str, Any]:
    return _check_schema("input_schema", value)


def check_output_schema(value: Any) -> dict[str, Any] | None:
    return None if value is None else _check_schema("output_schema", value)


def check_annotations(value: Any) -> dict[str, Any]:
    hints = {"title": str, "readOnlyHint": bool, "destructiveHint": bool, "idempotentHint": bool, "openWorldHint": bool}
    if not isinstance(value, dict):
        raise InvalidValueError("annotations", "must be an object")
    for key, item in value.items():
        expected = hints.get(key)
        if expected is None:
            raise InvalidValueError("annotations", f"unknown annotation {key!r} (allowed: {', '.join(hints)})")
        if not isinstance(item, expected):
            raise InvalidValueError("annotations", f"{key} must be a {expected.__name__}")
    return value


def is_secret_ref(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {SECRET_KEY} and isinstance(value[SECRET_KEY], dict)


def _check_secret(field: str, value: Any) -> dict[str, Any]:
    if not is_secret_ref(value):
        raise InvalidValueError(field, "must be encrypted before it is recorded")
    secret: dict[str, Any] = value
    return secret


def _template_fields(field: str, template: str) -> list[str]:
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        raise InvalidValueError(field, f"is not a valid template: {exc}") from None
    for name in names:
        if not name.isidentifier():
            raise InvalidValueError(field, f"placeholder {{{name}}} must be an argument name")
    return names


def _check_auth(auth: Any) -> dict[str, Any]:
    if not isinstance(auth, dict) or auth.get("type") not in AUTH_TYPES:
        raise InvalidValueError("integration.auth.type", f"must be one of {', '.join(AUTH_TYPES)}")
    kind = auth["type"]
    allowed = {
        "none": {"type"},
        "bearer": {"type", "token"},
        "basic": {"type", "username", "password"},
        "header": {"type", "header", "value"},
    }[kind]
    if set(auth) != allowed:
        raise InvalidValueError("integration.auth", f"{kind} auth takes exactly: {', '.join(sorted(allowed))}")
    if kind == "bearer":
        _check_secret("integration.auth.token", auth["token"])
    elif kind == "basic":
        if not isinstance(auth["username"], str):
            raise InvalidValueError("integration.auth.username", "must be a string")
        _check_secret("integration.auth.password", auth["password"])
    elif kind == "header":
        if not isinstance(auth["header"], str) or not HEADER_NAME.match(auth["header"]):
            raise InvalidValueError("integration.auth.header", "must be a valid HTTP header name")
        _check_secret("integration.auth.value", auth["value"])
    return auth


def check_integration(value: Any) -> dict[str, Any]:
    """An HTTP integration: method, URL template, secret headers, query/body mapping, timeout, auth."""
    if not isinstance(value, dict):
        raise InvalidValueError("integration", "must be an object")
    method = value.get("method")
    if method not in HTTP_METHODS:
        raise InvalidValueError("integration.method", f"must be one of {', '.join(HTTP_METHODS)}")
    url = value.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")) or len(url) > 2048:
        raise InvalidValueError("integration.url", "must be an http:// or https:// URL template")
    _template_fields("integration.url", url)
    headers = value.get("headers", {})
    if not isinstance(headers, dict) or not all(isinstance(k, str) and HEADER_NAME.match(k) for k in headers):
        raise InvalidValueError("integration.headers", "must map valid header names to values")
    for name, secret in headers.items():
        _check_secret(f"integration.headers.{name}", secret)
    query = value.get("query", {})
    if not isinstance(query, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in query.items()):
        raise InvalidValueError("integration.query", "must map query parameter names to argument names")
    body = value.get("body")
    if body is not None and (not isinstance(body, list) or not all(isinstance(v, str) for v in body)):
        raise InvalidValueError(
            "integration.body", "must be null (all remaining arguments) or a list of argument names"
        )
    timeout = value.get("timeout_s", 30.0)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= MAX_TIMEOUT_S:
        raise InvalidValueError("integration.timeout_s", f"must be a number in (0, {MAX_TIMEOUT_S:g}]")
    auth = _check_auth(value.get("auth", {"type": "none"}))
    return {
        "method": method,
        "url": url,
        "headers": headers,
        "query": query,
        "body": body,
        "timeout_s": float(timeout),
        "auth": auth,
    }


def check_resource_content(text: Any, blob: Any, max_bytes: int) -> tuple[str | None, str | None]:
    if (text is None) == (blob is None):
        raise InvalidValueError("content", "give exactly one of text or blob (base64)")
    if text is not None:
        if not isinstance(text, str):
            raise InvalidValueError("text", "must be a string")
        size = len(text.encode())
    else:
        if not isinstance(blob, str):
            raise InvalidValueError("blob", "must be a base64 string")
        try:
            size = len(base64.b64decode(blob, validate=True))
        except (binascii.Error, ValueError):
            raise InvalidValueError("blob", "is not valid base64") from None
    if size > max_bytes:
        raise InvalidValueError("content", f"is {size} bytes, over the limit of {max_bytes}")
    return text, blob


def check_template(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidValueError("template", "must be non-empty template text")
    try:
        SandboxedEnvironment().parse(value)
    except TemplateSyntaxError as exc:
        raise InvalidValueError(
            "template", f"is not a valid Jinja template: {exc.message} (line {exc.lineno})"
        ) from None
    return value


def check_prompt_arguments(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise InvalidValueError("arguments", "must be a list")
    seen: set[str] = set()
    result = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"].isidentifier():
            raise InvalidValueError("arguments", "each argument needs a name that is an identifier")
        if item["name"] in seen:
            raise InvalidValueError("arguments", f"argument {item['name']!r} is declared twice")
        seen.add(item["name"])
        result.append(
            {
                "name": item["name"],
                "description": item.get("description"),
                "required": bool(item.get("required", False)),
            }
        )
    return result


def check_source(value: Any) -> dict[str, str] | None:
    """Where a discovered item comes from: its upstream and its name (or URI) there."""
    if value is None:
        return None
    if (
        not isinstance(value, dict)
        or set(value) != {"upstream_id", "original"}
        or not all(isinstance(v, str) and v for v in value.values())
    ):
        raise InvalidValueError("source", "must be {upstream_id, original}")
    return value


def check_icons(value: Any) -> list[dict[str, Any]] | None:
    """MCP icons, passed through; only https: and data: sources are accepted."""
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(i, dict) and isinstance(i.get("src"), str) for i in value):
        raise InvalidValueError("icons", "must be a list of {src, mimeType?, sizes?, theme?}")
    for icon in value:
        if not icon["src"].startswith(("https:", "data:")):
            raise InvalidValueError("icons", "an icon's src must be an https: or data: URI")
    return value


TASK_SUPPORT = ("forbidden", "optional", "required")


def check_execution(value: Any) -> dict[str, Any] | None:
    """A tool's ``execution`` (2025-11-25): ``taskSupport`` says whether it may, or must, run as a task."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidValueError("execution", "must be an object")
    support = value.get("taskSupport")
    if support is not None and support not in TASK_SUPPORT:
        raise InvalidValueError("execution", f"taskSupport must be one of {', '.join(TASK_SUPPORT)}")
    return value


def check_meta(value: Any) -> dict[str, Any] | None:
    if value is not None and not isinstance(value, dict):
        raise InvalidValueError("meta", "must be an object")
    return value


def check_overrides(value: Any) -> list[str]:
    """Fields of a discovered item that a user changed; refreshes from the upstream leave them alone."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidValueError("overrides", "must be a list of field names")
    return sorted(set(value))
