"""An upstream: an MCP server (or another gateway) whose catalog Ledgergate discovers and forwards to."""

from __future__ import annotations

import hashlib
import json
import re
from functools import partial
from typing import Any, ClassVar

from eventsourcing.domain import event

from ledgergate.domain.catalog import CatalogEntity
from ledgergate.domain.errors import InvalidValueError
from ledgergate.domain.topics import keep_topics
from ledgergate.domain.values import as_mcp_name, check_slug, check_tags, is_secret_ref
from ledgergate.domain.values_text import optional_text

__all__ = [
    "HEALTH_STATES",
    "NOT_CONNECTION_SETTINGS",
    "TRANSPORTS",
    "Upstream",
    "connection_fingerprint",
    "connection_settings",
    "exposed_name",
]

TRANSPORTS = ("streamable_http", "sse", "stdio")
HEALTH_STATES = ("unknown", "healthy", "degraded", "unreachable")
# What an upstream's record holds besides how to reach it: changing these keeps its connections.
NOT_CONNECTION_SETTINGS = frozenset({"health", "items", "suspended", "description", "tags", "refresh_interval_s"})


def connection_settings(doc: dict[str, Any]) -> dict[str, Any]:
    """The settings a connection to the upstream is made with (secrets still sealed)."""
    return {k: v for k, v in doc.items() if k not in NOT_CONNECTION_SETTINGS}


def connection_fingerprint(doc: dict[str, Any]) -> int:
    """Equal for two records of the upstream exactly when their connections would be made the same way."""
    encoded = json.dumps(connection_settings(doc), sort_keys=True, separators=(",", ":"), default=str).encode()
    return int.from_bytes(hashlib.sha256(encoded).digest()[:8], "big")


def exposed_name(upstream_name: str, prefix: dict[str, Any], original: str) -> str:
    """The name clients see: ``<upstream><separator><original>``, made a valid MCP name."""
    name = f"{upstream_name}{prefix.get('separator', '__')}{original}" if prefix.get("enabled", True) else original
    return as_mcp_name(name)


def _secret_map(field: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or not all(isinstance(k, str) and is_secret_ref(v) for k, v in value.items()):
        raise InvalidValueError(field, "must map names to encrypted values")
    return value


def _auth(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or value.get("type") not in (
        "none",
        "bearer",
        "headers",
        "oauth_client_credentials",
    ):
        raise InvalidValueError("auth.type", "must be none, bearer, headers or oauth_client_credentials")
    kind = value["type"]
    if kind == "bearer" and not is_secret_ref(value.get("token")):
        raise InvalidValueError("auth.token", "must be encrypted before it is recorded")
    if kind == "headers":
        _secret_map("auth.headers", value.get("headers"))
    if kind == "oauth_client_credentials":
        if not isinstance(value.get("token_url"), str) or not isinstance(value.get("client_id"), str):
            raise InvalidValueError("auth", "oauth_client_credentials needs token_url and client_id")
        if not value["token_url"].startswith(("http://", "https://")):
            raise InvalidValueError("auth.token_url", "must be an http:// or https:// URL")
        if not is_secret_ref(value.get("client_secret")):
            raise InvalidValueError("auth.client_secret", "must be encrypted before it is recorded")
    return value


def _transport(value: Any) -> str:
    if value not in TRANSPORTS:
        raise InvalidValueError("transport", f"must be one of {', '.join(TRANSPORTS)}")
    return str(value)


def _url(value: Any) -> str | None:
    if value is not None and (not isinstance(value, str) or not value.startswith(("http://", "https://"))):
        raise InvalidValueError("url", "must be an http:// or https:// URL")
    return value


def _args(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(a, str) for a in value):
        raise InvalidValueError("args", "must be a list of strings")
    return value


def _prefix(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or not isinstance(value.get("enabled", True), bool):
        raise InvalidValueError("prefix", "must be {enabled: bool, separator: str}")
    separator = value.get("separator", "__")
    if not isinstance(separator, str) or not re.fullmatch(r"[A-Za-z0-9_.\-]{1,8}", separator):
        raise InvalidValueError("prefix.separator", "must be 1-8 characters of A-Z, a-z, 0-9, '_', '.', '-'")
    return {"enabled": value.get("enabled", True), "separator": separator}


def _choice(field: str, options: tuple[str, ...], value: Any) -> str:
    if value not in options:
        raise InvalidValueError(field, f"must be one of {', '.join(options)}")
    return str(value)


def _number(field: str, low: float, high: float, value: Any) -> Any:
    if value is None and field == "refresh_interval_s":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise InvalidValueError(field, f"must be a number between {low:g} and {high:g}")
    return value


class Upstream(CatalogEntity):
    KIND: ClassVar[str] = "upstream"
    HealthChanged: ClassVar[type[Any]]
    CatalogSynced: ClassVar[type[Any]]
    ItemsSuspended: ClassVar[type[Any]]
    name: str
    prefix: dict[str, Any]
    RULES: ClassVar[dict[str, Any]] = {
        "name": partial(check_slug, "name"),
        "description": partial(optional_text, "description", 8192),
        "transport": _transport,
        "url": _url,
        "command": partial(optional_text, "command", 4096),
        "args": _args,
        "env": partial(_secret_map, "env"),
        "cwd": partial(optional_text, "cwd", 4096),
        "auth": _auth,
        "prefix": _prefix,
        "session_mode": partial(_choice, "session_mode", ("shared", "per_client")),
        "refresh_interval_s": partial(_number, "refresh_interval_s", 10, 86_400),
        "timeout_s": partial(_number, "timeout_s", 0.1, 3600),
        "concurrency_limit": partial(_number, "concurrency_limit", 1, 10_000),
        "tags": check_tags,
    }
    DEFAULTS: ClassVar[dict[str, Any]] = {
        "description": None,
        "url": None,
        "command": None,
        "args": [],
        "env": {},
        "cwd": None,
        "auth": {"type": "none"},
        "prefix": {"enabled": True, "separator": "__"},
        "session_mode": "shared",
        "refresh_interval_s": None,
        "timeout_s": 60.0,
        "concurrency_limit": 64,
        "tags": [],
    }

    @event("Registered")
    def __init__(self, fields: dict[str, Any]) -> None:
        self._init_fields(fields)
        self.health = "unknown"
        self.items: dict[str, dict[str, str]] = {}
        self.suspended: list[str] = []

    def update(self, fields: dict[str, Any]) -> dict[str, Any]:
        if "name" in fields and fields["name"] != self.name:
            raise InvalidValueError("name", "an upstream's name prefixes its tools and can't change")
        return super().update(fields)

    def sync(self, items: dict[str, dict[str, str]]) -> bool:
        """Record the discovered items (id -> kind, original name) if they changed."""
        if items == self.items:
            return False
        self._synced(items=items)
        return True

    @event("CatalogSynced")
    def _synced(self, items: dict[str, dict[str, str]]) -> None:
        self.items = items

    def suspend(self, item_ids: list[str]) -> None:
        """Remember which items a disable of the upstream switched off, so enabling it switches them back on."""
        self._suspended(item_ids=sorted(item_ids))

    @event("ItemsSuspended")
    def _suspended(self, item_ids: list[str]) -> None:
        self.suspended = item_ids

    @classmethod
    def normalise(cls, fields: dict[str, Any]) -> dict[str, Any]:
        normalised = super().normalise(fields)
        transport = normalised.get("transport")
        if transport in ("streamable_http", "sse") and "url" in normalised and not normalised["url"]:
            raise InvalidValueError("url", f"a {transport} upstream needs a url")
        if transport == "stdio" and "command" in normalised and not normalised["command"]:
            raise InvalidValueError("command", "a stdio upstream needs a command")
        return normalised

    def record_health(self, state: str, detail: str | None) -> bool:
        """Record a health transition; a probe that finds the same state records nothing."""
        if state not in HEALTH_STATES:
            raise InvalidValueError("health", f"must be one of {', '.join(HEALTH_STATES)}")
        if state == self.health:
            return False
        self._health_changed(state=state, detail=detail)
        return True

    @event("HealthChanged")
    def _health_changed(self, state: str, detail: str | None) -> None:
        self.health = state

    @classmethod
    def changes_settings(cls, domain_event: object) -> bool:
        """Whether an event of the upstream's stream changes what a user edits: its settings, whether it is
        enabled, whether it is deleted. What the gateway records about it by itself does not: health
        transitions and catalog syncs (the supervisor's probes and refreshes), and which items a disable
        switched off (recorded with the ``Disabled`` or ``Enabled`` it belongs to, which do count). Any other
        event counts, so an event added later is a change until it is named here."""
        return not isinstance(domain_event, (cls.HealthChanged, cls.CatalogSynced, cls.ItemsSuspended))


keep_topics(__name__, globals())
