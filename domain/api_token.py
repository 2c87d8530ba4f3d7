"""An API token: who may call, in which tenant, with which role. The secret itself is never recorded.

A token issued with an issue key (the admin UI's issue form carries a random one) has an id derived
from (tenant, key): a second issue with the same key would write version 1 of the same stream, which
the store's unique (stream, version) key refuses, so a form sent twice issues one token, whichever
worker each copy reaches.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID, uuid5

from eventsourcing.domain import event

from ledgergate.domain.envelope import RegistryAggregate
from ledgergate.domain.errors import InvalidValueError
from ledgergate.domain.tenant import NAMESPACE
from ledgergate.domain.topics import keep_topics
from ledgergate.domain.values_text import required_text

__all__ = ["ISSUE_KEY", "ROLES", "ApiToken", "issued_token_id", "role_rank"]

#: Roles from least to most privileged.
ROLES = ("client", "viewer", "editor", "admin", "platform-admin")


#: What an issue key looks like: 16 to 128 URL-safe characters (``secrets.token_urlsafe(16)`` gives 22).
ISSUE_KEY = re.compile(r"[A-Za-z0-9_-]{16,128}")


def role_rank(role: str) -> int:
    return ROLES.index(role)


def issued_token_id(tenant_id: str, issue_key: str) -> UUID:
    """The id of the token a tenant issues with ``issue_key``. Raises: InvalidValueError (not a key)."""
    if not ISSUE_KEY.fullmatch(issue_key):
        raise InvalidValueError("issue_key", "must be 16 to 128 URL-safe characters (letters, digits, '-', '_')")
    return uuid5(NAMESPACE, f"token-issue:{tenant_id}/{issue_key}")


class ApiToken(RegistryAggregate):
    KIND: ClassVar[str] = "token"
    Issued: ClassVar[type[Any]]
    Revoked: ClassVar[type[Any]]

    @event("Issued")
    def __init__(
        self, name: str, subject: str, role: str, server_ids: list[str] | None, expires_at: datetime | None
    ) -> None:
        self.name = name
        self.subject = subject
        self.role = role
        self.server_ids = server_ids
        self.expires_at = expires_at
        self.revoked = False

    @classmethod
    def issue(
        cls,
        name: str,
        subject: str,
        role: str,
        server_ids: list[str] | None,
        expires_at: datetime | None,
        token_id: UUID | None = None,
    ) -> ApiToken:
        """A new token; ``token_id`` (``issued_token_id``) instead of a random id for an issue with a key."""
        required_text("name", 128, name)
        required_text("subject", 256, subject)
        if ":" in subject:  # the form of qualified and system actors (acme:alice, system:supervisor)
            raise InvalidValueError("subject", "must not contain ':' (the gateway writes it as <tenant>:<subject>)")
        if role not in ROLES:
            raise InvalidValueError("role", f"must be one of {', '.join(ROLES)}")
        if server_ids is not None and (
            not isinstance(server_ids, list) or not all(isinstance(s, str) for s in server_ids)
        ):
            raise InvalidValueError("server_ids", "must be a list of virtual server ids")
        fields: dict[str, Any] = {
            "name": name,
            "subject": subject,
            "role": role,
            "server_ids": sorted(set(server_ids)) if server_ids is not None else None,
            "expires_at": expires_at,
        }
        if token_id is None:
            return cls(**fields)
        token: ApiToken = cls._create(cls.Issued, id=token_id, **fields)  # the constructor takes no id
        return token

    def revoke(self) -> bool:
        if self.revoked:
            return False
        self._revoked()
        return True

    @event("Revoked")
    def _revoked(self) -> None:
        self.revoked = True

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "subject": self.subject,
            "role": self.role,
            "server_ids": self.server_ids,
            "expires_at": self.expires_at,
            "revoked": self.revoked,
        }


keep_topics(__name__, globals())
