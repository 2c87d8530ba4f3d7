"""An API token: who may call, in which tenant, with which role. The secret itself is never recorded."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from eventsourcing.domain import event

from ledgergate.domain.envelope import RegistryAggregate
from ledgergate.domain.errors import InvalidValueError
from ledgergate.domain.topics import keep_topics
from ledgergate.domain.values_text import required_text

__all__ = ["ROLES", "ApiToken", "role_rank"]

#: Roles from least to most privileged.
ROLES = ("client", "viewer", "editor", "admin", "platform-admin")


def role_rank(role: str) -> int:
    return ROLES.index(role)


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
        cls, name: str, subject: str, role: str, server_ids: list[str] | None, expires_at: datetime | None
    ) -> ApiToken:
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
        return cls(
            name=name,
            subject=subject,
            role=role,
            server_ids=sorted(set(server_ids)) if server_ids is not None else None,
            expires_at=expires_at,
        )

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
