"""First start: create the ``default`` tenant and a platform-admin token, once per instance; rotate that token.

The platform-admin token expires (``LEDGERGATE_ADMIN_TOKEN_TTL_HOURS``, 24 hours by default): it is meant
to set the instance up (tenants, their admins, named service tokens), not to run it. It is saved to
``<data dir>/admin-token`` (mode 0600) and printed only when standard output is a terminal, because what
a container prints ends up in log stores that many more people can read than the data directory.
``ledgergate token rotate-admin`` issues a new one, saves it to the same file and revokes the one it held.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol, TextIO

from ledgergate.api.runtime import Runtime
from ledgergate.application.errors import ConflictError, InvalidTokenError, NotFoundError
from ledgergate.application.ports import TokenReader
from ledgergate.application.registry import PLATFORM_TENANT
from ledgergate.application.token_lifetimes import TokenLifetimes
from ledgergate.domain.envelope import Envelope
from ledgergate.domain.tenant import tenant_stream_id

__all__ = [
    "DEFAULT_TENANT",
    "FirstStart",
    "announce",
    "expires_at_of",
    "first_start",
    "rotate_admin",
    "token_lifetimes",
]

DEFAULT_TENANT = "default"


class LifetimeSettings(Protocol):
    """The settings token lifetimes come from (the composition root hands its ``Settings``)."""

    @property
    def token_ttl_days(self) -> int: ...
    @property
    def token_max_ttl_days(self) -> int: ...
    @property
    def admin_token_ttl_hours(self) -> int: ...


TOKEN_FILE = "admin-token"  # noqa: S105 - a file name, not a secret
ADMIN_TOKEN_NAME = "bootstrap admin"  # noqa: S105 - a token's display name
BOOTSTRAP_ACTOR = "system:bootstrap"


@dataclass(frozen=True)
class FirstStart:
    """The platform-admin token: ``token`` is set only by the start (or rotation) that issued it."""

    token: str | None
    token_file: Path
    expires_at: datetime | None = None  # of the token in the file (None: it never expires, or is unreadable)
    revoked_id: str | None = None  # a rotation: the id of the token it replaced

    @property
    def expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= datetime.now(UTC)


def token_lifetimes(settings: LifetimeSettings) -> TokenLifetimes:
    return TokenLifetimes(
        default=timedelta(days=settings.token_ttl_days),
        longest=timedelta(days=settings.token_max_ttl_days),
        bootstrap=timedelta(hours=settings.admin_token_ttl_hours),
    )


def _expiry(codec: TokenReader, token: str) -> datetime | None:
    expires = codec.verify(token, allow_expired=True).expires_at
    return datetime.fromtimestamp(expires, UTC) if expires is not None else None


def expires_at_of(codec: TokenReader, token: str) -> str | None:
    """When a token this instance just signed expires (RFC 3339), or None if it never does."""
    expires = _expiry(codec, token)
    return expires.isoformat() if expires is not None else None


def _write_secret(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # a file left by an older version keeps its mode otherwise
    with os.fdopen(fd, "w") as handle:
        handle.write(text + "\n")


def _token_in(codec: TokenReader, token_file: Path) -> tuple[str | None, datetime | None]:
    """The id and expiry of the token saved in ``token_file``, if there is a readable one."""
    try:
        text = token_file.read_text().strip()
        claims = codec.verify(text, allow_expired=True)
    except (OSError, InvalidTokenError):
        return None, None
    return claims.token_id, _expiry(codec, text)


def _issue_admin(runtime: Runtime, actor: str) -> str:
    _, token = runtime.registry.issue_token(
        Envelope(DEFAULT_TENANT, actor, "bootstrap", "bootstrap"),
        "platform-admin",
        ADMIN_TOKEN_NAME,
        "admin",
        "platform-admin",
        None,
        token_lifetimes(runtime.settings).bootstrap,
    )
    return token


def first_start(runtime: Runtime) -> FirstStart:
    """Create the default tenant and its first token if the log has no default tenant yet."""
    registry = runtime.registry
    token_file = runtime.settings.data_dir / TOKEN_FILE
    if tenant_stream_id(DEFAULT_TENANT) in registry.repository:
        return FirstStart(token=None, token_file=token_file, expires_at=_token_in(runtime.codec, token_file)[1])
    envelope = Envelope(PLATFORM_TENANT, BOOTSTRAP_ACTOR, "bootstrap", "bootstrap")
    try:
        registry.create_tenant(envelope, {"name": DEFAULT_TENANT, "display_name": "Default tenant"})
    except ConflictError:  # another process started at the same moment and did it
        return FirstStart(token=None, token_file=token_file)
    token = _issue_admin(runtime, BOOTSTRAP_ACTOR)
    _write_secret(token_file, token)
    return FirstStart(token=token, token_file=token_file, expires_at=_expiry(runtime.codec, token))


def rotate_admin(runtime: Runtime, actor: str) -> FirstStart:
    """Issue a new platform-admin token into the token file, then revoke the one the file held.
    Raises: NotFoundError when the instance has had no first start."""
    token_file = runtime.settings.data_dir / TOKEN_FILE
    runtime.registry.require_tenant(DEFAULT_TENANT)
    old_id, _ = _token_in(runtime.codec, token_file)
    token = _issue_admin(runtime, actor)
    _write_secret(token_file, token)
    revoked = None
    if old_id is not None:
        try:
            runtime.registry.revoke_token(Envelope(DEFAULT_TENANT, actor, "rotate-admin", "rotate-admin"), old_id)
            revoked = old_id
        except NotFoundError:  # a token of another tenant or instance: nothing of ours to revoke
            pass
    return FirstStart(token=token, token_file=token_file, expires_at=_expiry(runtime.codec, token), revoked_id=revoked)


def announce(started: FirstStart, out: TextIO) -> None:
    """Tell the operator where the platform-admin token is; print the token itself only to a terminal."""
    until = f"expires {started.expires_at.isoformat()}" if started.expires_at else "never expires"
    if started.token is not None:
        print(f"Platform-admin token issued ({until}); saved to {started.token_file} (mode 0600).", file=out)
        if started.revoked_id is not None:
            print(f"Revoked the previous token {started.revoked_id}.", file=out)
        if out.isatty():
            print(f"Token (shown once):\n\n{started.token}\n", file=out)
        else:
            print("The token is printed only to a terminal; read it from that file.", file=out)
    elif started.token_file.exists():
        print(f"Admin token file: {started.token_file} ({until})", file=out)
        if started.expired:
            print("That token has expired: run `ledgergate token rotate-admin` for a new one.", file=out)
    out.flush()
