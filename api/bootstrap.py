"""First start: create the ``default`` tenant and a platform-admin token, once per instance."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from api.runtime import Runtime
from application.errors import ConflictError
from application.registry import PLATFORM_TENANT
from domain.envelope import Envelope
from domain.tenant import tenant_stream_id

__all__ = ["DEFAULT_TENANT", "FirstStart", "first_start"]

DEFAULT_TENANT = "default"
TOKEN_FILE = "admin-token"  # noqa: S105 - a file name, not a secret


@dataclass(frozen=True)
class FirstStart:
    token: str | None  # set only on the start that created it
    token_file: Path


def _write_secret(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text + "\n")


def first_start(runtime: Runtime) -> FirstStart:
    """Create the default tenant and its first token if the log has no default tenant yet."""
    registry = runtime.registry
    token_file = runtime.settings.data_dir / TOKEN_FILE
    if tenant_stream_id(DEFAULT_TENANT) in registry.repository:
        return FirstStart(token=None, token_file=token_file)
    envelope = Envelope(PLATFORM_TENANT, "system:bootstrap", "bootstrap", "bootstrap")
    try:
        registry.create_tenant(envelope, {"name": DEFAULT_TENANT, "display_name": "Default tenant"})
    except ConflictError:  # another process started at the same moment and did it
        return FirstStart(token=None, token_file=token_file)
    _, token = registry.issue_token(
        Envelope(DEFAULT_TENANT, "system:bootstrap", "bootstrap", "bootstrap"),
        "platform-admin",
        "bootstrap admin",
        "admin",
        "platform-admin",
        None,
        None,
    )
    _write_secret(token_file, token)
    return FirstStart(token=token, token_file=token_file)
