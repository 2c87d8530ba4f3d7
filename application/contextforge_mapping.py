"""How one ContextForge export entry becomes the body of one Ledgergate create command (pure functions).

Each ``map_*`` returns a ``PlannedCommand`` or raises ``Skip`` with the reason. Secrets ContextForge
exports encrypted with its own ``AUTH_ENCRYPTION_SECRET`` cannot be read here; they are reported as
``UnreadableSecret`` and the item is imported disabled and without them, never with an invented value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from ledgergate.domain.errors import InvalidValueError
from ledgergate.domain.values import (
    HEADER_NAME,
    HTTP_METHODS,
    MAX_TIMEOUT_S,
    as_mcp_name,
    check_input_schema,
    check_integration,
    check_output_schema,
    check_template,
    check_uri,
)

__all__ = [
    "PlannedCommand",
    "Skip",
    "UnreadableSecret",
    "cf_slug",
    "clean_tags",
    "map_gateway",
    "map_prompt",
    "map_resource",
    "map_tool",
    "mcp_name",
    "slug_name",
]

ANNOTATION_HINTS = {
    "title": str,
    "readOnlyHint": bool,
    "destructiveHint": bool,
    "idempotentHint": bool,
    "openWorldHint": bool,
}
TRANSPORTS = {
    "SSE": "sse",
    "STREAMABLEHTTP": "streamable_http",
    "STREAMABLE_HTTP": "streamable_http",
    "HTTP": "streamable_http",
}
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
_NOT_TAG = re.compile(r"[^A-Za-z0-9_.:\-]+")


class Skip(Exception):
    """The entry is not imported; the message says why."""


@dataclass(frozen=True)
class UnreadableSecret:
    """A credential the export holds encrypted: reported, and the item is imported without it."""

    source: str
    name: str
    field: str
    detail: str


@dataclass(frozen=True)
class PlannedCommand:
    """One create command: ``body`` is in the shape of the registry API's create body for ``kind``.

    ``name`` is the Ledgergate unique name (a resource's URI). A server's ``members`` name the tools,
    resources and prompts it holds by their unique names; the import turns them into ids.
    """

    kind: str
    name: str
    body: dict[str, Any]
    source: str
    enabled: bool = True
    notes: tuple[str, ...] = ()
    members: dict[str, tuple[str, ...]] = field(default_factory=dict)


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def cf_slug(text: str) -> str:
    """ContextForge's slug of a name (lower case, runs of other characters as '-'), as its references use."""
    return _NOT_SLUG.sub("-", text.lower()).strip("-")


def _text(entry: dict[str, Any], key: str) -> str | None:
    value = entry.get(key)
    return value if isinstance(value, str) and value.strip() else None


def _required_text(entry: dict[str, Any], key: str) -> str:
    value = _text(entry, key)
    if value is None:
        raise Skip(f"it has no {key}")
    return value


def mcp_name(raw: str, notes: list[str]) -> str:
    name = as_mcp_name(raw.strip()).strip("_")
    if not name:
        raise Skip(f"its name {raw!r} has no letters or digits to keep")
    if name != raw:
        notes.append(f"renamed from {raw!r}: names allow only A-Z, a-z, 0-9, '_', '.', '-'")
    return name


def slug_name(raw: str, notes: list[str]) -> str:
    name = cf_slug(raw)[:63].strip("-")
    if not name:
        raise Skip(f"its name {raw!r} has no letters or digits to keep")
    if name != raw:
        notes.append(f"renamed from {raw!r}: names here are lower-case letters, digits and '-'")
    return name


def clean_tags(entry: dict[str, Any], notes: list[str]) -> list[str]:
    """ContextForge tags are strings or, in later versions, ``{"id", "label"}`` objects."""
    tags: list[str] = []
    for raw in entry.get("tags") or []:
        text = raw.get("id") or raw.get("label") if isinstance(raw, dict) else raw
        tag = _NOT_TAG.sub("-", text.strip())[:64].strip("-") if isinstance(text, str) else ""
        if tag:
            tags.append(tag)
        else:
            notes.append(f"tag {raw!r} dropped: not a usable tag")
    return sorted(set(tags))


def _enabled(entry: dict[str, Any], notes: list[str]) -> bool:
    active = entry.get("is_active", entry.get("enabled", True))
    if active is False:
        notes.append("imported disabled: it was inactive in ContextForge")
        return False
    return True


def _annotations(raw: Any, notes: list[str]) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for key, value in (raw or {}).items() if isinstance(raw, dict) else ():
        if isinstance(value, ANNOTATION_HINTS.get(key, ())):
            kept[key] = value
        else:
            notes.append(f"annotation {key!r} dropped: only MCP tool hints are kept")
    return kept


def _checked(check: Any, value: Any) -> Any:
    try:
        return check(value)
    except InvalidValueError as exc:
        raise Skip(str(exc)) from None


def _auth_secret(entry: dict[str, Any], source: str, name: str, what: str) -> UnreadableSecret | None:
    """A ContextForge ``auth_type`` other than none: its value (if exported at all) is ciphertext we can't read."""
    auth_type = entry.get("auth_type")
    has_secret = any(entry.get(k) for k in ("auth_value", "auth_query_params", "oauth_config"))
    if auth_type in (None, "", "none") and not has_secret:
        return None
    where = next((k for k in ("auth_value", "auth_query_params", "oauth_config") if entry.get(k)), "auth_value")
    state = "are encrypted with the source gateway's AUTH_ENCRYPTION_SECRET" if has_secret else "are not in the export"
    return UnreadableSecret(
        source, name, where, f"{auth_type or 'auth'} credentials {state}; the {what} was imported disabled without auth"
    )


def map_tool(entry: dict[str, Any], source: str, secrets: list[UnreadableSecret]) -> PlannedCommand:
    """A REST tool becomes a tool with an HTTP integration; MCP tools of gateways are not imported."""
    raw_name = _required_text(entry, "name")
    kind = str(entry.get("integration_type") or "REST").upper()
    if kind == "MCP":
        gateway = entry.get("gateway_name") or entry.get("gateway_id")
        origin = f"upstream {gateway!r}" if gateway else "its upstream"
        raise Skip(f"an MCP tool is discovered from {origin} when that upstream is enabled, not imported on its own")
    if kind != "REST":
        raise Skip(f"integration_type {kind} has no equivalent here (only REST tools are imported)")
    notes: list[str] = []
    name = mcp_name(raw_name, notes)
    method = str(entry.get("request_type") or "GET").upper()
    if method not in HTTP_METHODS:
        raise Skip(f"request_type {method} is not one of {', '.join(HTTP_METHODS)}")
    integration: dict[str, Any] = {"method": method, "url": entry.get("url"), "query": {}, "body": None}
    _checked(check_integration, integration)
    integration["headers"] = _headers(entry.get("headers"), notes)
    timeout = entry.get("timeout")
    if isinstance(timeout, int | float) and not isinstance(timeout, bool) and 0 < timeout <= MAX_TIMEOUT_S:
        integration["timeout_s"] = float(timeout)
    secret = _auth_secret(entry, source, name, "tool")
    if secret is not None:
        secrets.append(secret)
        notes.append("imported disabled: its auth is encrypted in the export; set integration.auth, then enable it")
    for key, what in (("jsonpath_filter", "responses are returned unfiltered"), ("rate_limit", "no per-tool limit")):
        if entry.get(key):
            notes.append(f"{key} {entry[key]!r} not imported: {what}")
    output_schema = entry.get("output_schema")
    if output_schema is not None:
        try:
            check_output_schema(output_schema)
        except InvalidValueError as exc:
            notes.append(f"output_schema dropped: {exc}")
            output_schema = None
    body = {
        "name": name,
        "title": _text(entry, "displayName") or _text(entry, "display_name"),
        "description": _text(entry, "description"),
        "input_schema": _checked(check_input_schema, entry.get("input_schema") or {"type": "object", "properties": {}}),
        "output_schema": output_schema,
        "annotations": _annotations(entry.get("annotations"), notes),
        "tags": clean_tags(entry, notes),
        "integration": integration,
    }
    enabled = _enabled(entry, notes) and secret is None
    return PlannedCommand("tool", name, body, source, enabled, tuple(notes))


def _headers(raw: Any, notes: list[str]) -> dict[str, str]:
    """ContextForge exports a REST tool's headers in clear; here every header value is sealed as a secret."""
    headers: dict[str, str] = {}
    for key, value in (raw or {}).items() if isinstance(raw, dict) else ():
        if isinstance(key, str) and isinstance(value, str) and HEADER_NAME.match(key):
            headers[key] = value
        else:
            notes.append(f"header {key!r} dropped: not a valid header name and text value")
    return headers


def map_gateway(entry: dict[str, Any], source: str, secrets: list[UnreadableSecret]) -> PlannedCommand:
    """A gateway becomes an upstream, always created disabled: nothing connects during the import."""
    notes: list[str] = []
    name = slug_name(_required_text(entry, "name"), notes)
    raw_transport = str(entry.get("transport") or "SSE")
    transport = TRANSPORTS.get(raw_transport.upper().replace("-", ""))
    if transport is None:
        raise Skip(f"transport {raw_transport} has no equivalent here (SSE and streamable HTTP are imported)")
    url = entry.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise Skip(f"url {url!r} is not an http:// or https:// URL")
    secret = _auth_secret(entry, source, name, "upstream")
    if secret is not None:
        secrets.append(secret)
        notes.append("its auth is encrypted in the export: set auth on the upstream before enabling it")
    if entry.get("passthrough_headers"):
        notes.append(f"passthrough_headers {entry['passthrough_headers']} not imported: no equivalent here")
    notes.append("imported disabled and not yet discovered: enable it, then refresh it to list its items")
    body = {
        "name": name,
        "transport": transport,
        "url": url,
        "description": _text(entry, "description"),
        "tags": clean_tags(entry, notes),
    }
    return PlannedCommand("upstream", name, body, source, False, tuple(notes))


def _prompt_arguments(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """From ``arguments`` if the export has them, else from the ``input_schema`` ContextForge derives from them."""
    if isinstance(entry.get("arguments"), list):
        raw = [a for a in entry["arguments"] if isinstance(a, dict)]
        arguments = [
            {"name": a.get("name"), "description": a.get("description") or None, "required": bool(a.get("required"))}
            for a in raw
        ]
    else:
        schema = _mapping(entry.get("input_schema"))
        properties = _mapping(schema.get("properties"))
        required = schema.get("required")
        required = required if isinstance(required, list) else []
        arguments = [
            {
                "name": key,
                "description": (value.get("description") or None) if isinstance(value, dict) else None,
                "required": key in required,
            }
            for key, value in properties.items()
        ]
    for argument in arguments:
        if not isinstance(argument["name"], str) or not argument["name"].isidentifier():
            raise Skip(f"argument name {argument['name']!r} is not an identifier")
    return arguments


def map_prompt(entry: dict[str, Any], source: str) -> PlannedCommand:
    """A prompt keeps its Jinja template; its arguments come from the exported input schema."""
    notes: list[str] = []
    name = mcp_name(_required_text(entry, "name"), notes)
    template = _checked(check_template, entry.get("template"))
    body = {
        "name": name,
        "template": template,
        "title": _text(entry, "display_name") or _text(entry, "displayName"),
        "description": _text(entry, "description"),
        "arguments": _prompt_arguments(entry),
        "tags": clean_tags(entry, notes),
    }
    return PlannedCommand("prompt", name, body, source, _enabled(entry, notes), tuple(notes))


def map_resource(entry: dict[str, Any], source: str) -> PlannedCommand:
    """A resource keeps its URI and takes its content from ``content``, which ContextForge's importer reads.

    ContextForge's own export writes resources without their content; such an entry is skipped, since an
    empty or made-up body would be served to clients as if it were the resource.
    """
    notes: list[str] = []
    uri = _checked(partial(check_uri, "uri"), entry.get("uri"))
    name = mcp_name(_required_text(entry, "name"), notes)
    content = entry.get("content")
    text, blob = None, None
    if isinstance(content, str) and content:
        text = content
    elif isinstance(content, dict) and isinstance(content.get("blob"), str) and content["blob"]:
        blob = content["blob"]
    elif isinstance(content, dict) and isinstance(content.get("text"), str) and content["text"]:
        text = content["text"]
    else:
        raise Skip("the export carries no content for it (ContextForge exports resource metadata only)")
    body = {
        "uri": uri,
        "name": name,
        "description": _text(entry, "description"),
        "mime_type": _text(entry, "mime_type") or "text/plain",
        "text": text,
        "blob": blob,
        "tags": clean_tags(entry, notes),
    }
    return PlannedCommand("resource", uri, body, source, _enabled(entry, notes), tuple(notes))
