"""The registry: every command appends events; it returns the global position of the last one.

Commands load aggregates, decide, and save everything they touched in one ``save()`` (one
transaction). Concurrent writers to one stream collide on the store's (stream, version) key; that
becomes a ``ConcurrentWriteError``, nothing is written, and the command runs again on the fresh
state (``application/concurrency.py``); an ``If-Match`` version that no longer holds is a 409.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError

from ledgergate.application.concurrency import retried_on_concurrent_write
from ledgergate.application.errors import (
    AlreadyIssuedError,
    ConcurrentWriteError,
    ConflictError,
    ForbiddenError,
    GoneError,
    NotFoundError,
    ValidationError,
    VersionConflictError,
)
from ledgergate.application.ports import SecretCipher, TokenSigner
from ledgergate.application.secrets import seal_integration
from ledgergate.application.upstream_commands import UpstreamCommands
from ledgergate.domain.api_token import ApiToken, issued_token_id, role_rank
from ledgergate.domain.catalog import CatalogEntity
from ledgergate.domain.envelope import Envelope, RegistryAggregate, recording
from ledgergate.domain.errors import DomainError, EntityDeletedError, InvalidValueError
from ledgergate.domain.name_claim import NameClaim, NameTakenError, claim_id
from ledgergate.domain.prompt import Prompt
from ledgergate.domain.resource import Resource
from ledgergate.domain.tenant import Tenant, tenant_stream_id
from ledgergate.domain.tool import Tool
from ledgergate.domain.upstream import Upstream
from ledgergate.domain.values import check_resource_content
from ledgergate.domain.virtual_server import VirtualServer

__all__ = ["KINDS", "PLATFORM_TENANT", "Registry", "Written"]

#: Kinds of catalog entity by their API name.
KINDS: dict[str, type[CatalogEntity]] = {"tool": Tool, "resource": Resource, "prompt": Prompt, "server": VirtualServer}
#: The envelope tenant of platform-level events (tenant creation and changes).
PLATFORM_TENANT = "_platform"
MEMBER_KINDS = {"tool_ids": Tool, "resource_ids": Resource, "prompt_ids": Prompt, "upstream_ids": Upstream}


@dataclass(frozen=True)
class Written:
    """What a command wrote: the entity, its new version, and the global position of its last event."""

    id: str
    version: int
    position: int


class Registry(UpstreamCommands, Application[UUID]):
    name = "Registry"
    env: ClassVar[dict[str, str]] = {"AGGREGATE_CACHE_MAXSIZE": "10000", "DEEPCOPY_FROM_AGGREGATE_CACHE": "y"}

    def __init__(
        self,
        env: dict[str, str],
        cipher: SecretCipher,
        signer: TokenSigner,
        on_saved: Callable[[int], None] | None = None,
        resource_max_bytes: int = 1_048_576,
    ) -> None:
        super().__init__(env=env)
        self.resource_max_bytes = resource_max_bytes
        self.cipher = cipher
        self.signer = signer
        self._on_saved = on_saved

    # -- plumbing ---------------------------------------------------------------------------------

    @contextmanager
    def _command(self, envelope: Envelope) -> Iterator[None]:
        try:
            with recording(envelope):
                yield
        except NameTakenError as exc:
            raise ConflictError(str(exc), kind=exc.kind, name=exc.name, existing_id=exc.owner_id) from None
        except EntityDeletedError as exc:
            raise GoneError(str(exc)) from None
        except InvalidValueError as exc:
            raise ValidationError(str(exc), field=exc.field) from None
        except DomainError as exc:
            raise ValidationError(str(exc)) from None

    def _commit(self, subject: RegistryAggregate, *others: RegistryAggregate) -> Written:
        try:
            recordings = self.save(subject, *others)
        except IntegrityError:
            raise ConcurrentWriteError(
                "the entity was changed concurrently; nothing was written, reload and retry"
            ) from None
        position = max((r.notification.id for r in recordings), default=0) or self.recorder.max_notification_id() or 0
        if recordings and self._on_saved is not None:
            self._on_saved(position)
        return Written(id=str(subject.id), version=subject.version, position=position)

    def _load(self, cls: type[Any], entity_id: str | UUID, tenant_id: str | None) -> Any:
        try:
            aggregate: Any = self.repository.get(entity_id if isinstance(entity_id, UUID) else UUID(entity_id))
        except (AggregateNotFoundError, ValueError):
            raise NotFoundError(f"no {getattr(cls, 'KIND', cls.__name__.lower())} with id {entity_id}") from None
        if not isinstance(aggregate, cls) or (tenant_id is not None and aggregate.tenant_id != tenant_id):
            raise NotFoundError(f"no {getattr(cls, 'KIND', cls.__name__.lower())} with id {entity_id}")
        return aggregate

    def _check_version(self, aggregate: RegistryAggregate, expected_version: int | None) -> None:
        if expected_version is not None and aggregate.version != expected_version:
            raise VersionConflictError(
                f"expected version {expected_version}, the entity is at version {aggregate.version}",
                current_version=aggregate.version,
            )

    def _claim(self, tenant_id: str, kind: str, name: str, owner_id: str) -> NameClaim:
        cid = claim_id(tenant_id, kind, name)
        if cid in self.repository:
            claim: NameClaim = self.repository.get(cid)
            claim.claim(owner_id)
            return claim
        return NameClaim(tenant_id=tenant_id, kind=kind, name=name, owner_id=owner_id)

    def _release(self, tenant_id: str, kind: str, name: str, owner_id: str) -> NameClaim | None:
        cid = claim_id(tenant_id, kind, name)
        if cid not in self.repository:
            return None
        claim: NameClaim = self.repository.get(cid)
        claim.release(owner_id)
        return claim

    def require_tenant(self, tenant_id: str) -> Tenant:
        """The tenant, named as the caller named it in errors. Raises: NotFoundError, ForbiddenError (disabled)."""
        try:
            tenant: Tenant = self._load(Tenant, tenant_stream_id(tenant_id), None)
        except NotFoundError:
            raise NotFoundError(f"no tenant {tenant_id!r}") from None
        if tenant.deleted:
            raise NotFoundError(f"no tenant {tenant_id!r}")
        if not tenant.enabled:
            raise ForbiddenError(f"tenant {tenant_id!r} is disabled")
        return tenant

    # -- tenants ----------------------------------------------------------------------------------

    @retried_on_concurrent_write
    def create_tenant(self, envelope: Envelope, fields: dict[str, Any]) -> Written:
        """Create a tenant and its data key. Raises: ValidationError, ConflictError."""
        with self._command(envelope):
            normalised = Tenant.normalise({**Tenant.DEFAULTS, **fields})
            tid = tenant_stream_id(normalised["name"])
            if tid in self.repository:
                raise ConflictError(f"tenant {normalised['name']!r} already exists", existing_id=str(tid))
            self.cipher.ensure_tenant_key(normalised["name"])
            with recording(replace(envelope, tenant_id=normalised["name"])):
                tenant = Tenant(fields=normalised)
            return self._commit(tenant)

    @retried_on_concurrent_write
    def change_tenant(
        self,
        envelope: Envelope,
        slug: str,
        action: str,
        fields: dict[str, Any] | None = None,
        expected_version: int | None = None,
        shred: bool = False,
    ) -> Written:
        """Update, enable, disable or delete a tenant; ``shred`` with delete destroys its data key too.

        Raises: NotFoundError, ValidationError, VersionConflictError.
        """
        with self._command(envelope):
            tenant: Tenant = self._load(Tenant, tenant_stream_id(slug), None)
            self._check_version(tenant, expected_version)
            if shred and action != "delete":
                raise ValidationError("shred goes only with delete", field="shred")
            with recording(replace(envelope, tenant_id=slug)):
                self._apply_lifecycle(tenant, action, fields)
            written = self._commit(tenant)
        if shred:  # after the deletion is recorded: the history stays, the secrets in it become unreadable
            self.cipher.shred(slug)
        return written

    # -- catalog entities ------------------------------------------------------------------------

    def _prepare(
        self, envelope: Envelope, cls: type[CatalogEntity], fields: dict[str, Any], current: CatalogEntity | None
    ) -> dict[str, Any]:
        if "integration" in fields:
            previous = current.integration if current is not None else None  # type: ignore[attr-defined]
            fields = {
                **fields,
                "integration": seal_integration(fields["integration"], envelope.tenant_id, self.cipher, previous),
            }
        if cls is Resource and ("text" in fields or "blob" in fields or current is None):
            fields = {**fields, **self._resource_content(fields, current)}
        if cls is VirtualServer:
            for field_name, member_cls in MEMBER_KINDS.items():
                for member_id in fields.get(field_name) or []:
                    member = self._load_member(member_cls, member_id, envelope.tenant_id, field_name)
                    if member.deleted:
                        raise ValidationError(
                            f"{field_name}: {member_cls.KIND} {member_id} was deleted", field=field_name
                        )
        return fields

    def _resource_content(self, fields: dict[str, Any], current: CatalogEntity | None) -> dict[str, Any]:
        """Text and blob exclude each other: giving one clears the other unless both are given."""
        text, blob = (current.text, current.blob) if current is not None else (None, None)  # type: ignore[attr-defined]
        if "text" in fields:
            # a null text beside a blob (a create body's default) gives the blob
            text, blob = fields["text"], fields.get("blob") if fields["text"] is not None else fields.get("blob", blob)
        elif "blob" in fields:
            text, blob = (None if fields["blob"] is not None else text), fields["blob"]
        check_resource_content(text, blob, self.resource_max_bytes)
        return {"text": text, "blob": blob}

    def _load_member(self, cls: type[CatalogEntity], member_id: str, tenant_id: str, field_name: str) -> CatalogEntity:
        try:
            member: CatalogEntity = self._load(cls, member_id, tenant_id)
        except NotFoundError:
            raise ValidationError(
                f"{field_name}: no {cls.KIND} with id {member_id} in this tenant", field=field_name
            ) from None
        return member

    def check_entity(self, envelope: Envelope, kind: str, fields: dict[str, Any]) -> None:
        """Validate a create exactly as ``create_entity`` would, writing nothing (dry runs).
        Raises: ValidationError, NotFoundError, ForbiddenError."""
        cls = KINDS[kind]
        with self._command(envelope):
            self.require_tenant(envelope.tenant_id)
            cls.normalise({**cls.DEFAULTS, **self._prepare(envelope, cls, fields, None)})

    @retried_on_concurrent_write
    def create_entity(self, envelope: Envelope, kind: str, fields: dict[str, Any], enabled: bool = True) -> Written:
        """Create a tool, resource, prompt or virtual server (``enabled=False``: disabled in the same save).
        Raises: ValidationError, ConflictError."""
        cls = KINDS[kind]
        with self._command(envelope):
            self.require_tenant(envelope.tenant_id)
            fields = self._prepare(envelope, cls, fields, None)
            entity = cls(fields=cls.normalise({**cls.DEFAULTS, **fields}))  # type: ignore[call-arg]
            if not enabled:
                entity.disable()
            claim = self._claim(envelope.tenant_id, kind, entity.unique_name, str(entity.id))
            return self._commit(entity, claim)

    @retried_on_concurrent_write
    def update_entity(
        self, envelope: Envelope, kind: str, entity_id: str, fields: dict[str, Any], expected_version: int | None = None
    ) -> Written:
        """Change some fields. Raises: NotFoundError, GoneError, ValidationError, (Version)ConflictError."""
        cls = KINDS[kind]
        with self._command(envelope):
            entity: CatalogEntity = self._load(cls, entity_id, envelope.tenant_id)
            self._check_version(entity, expected_version)
            old_name = entity.unique_name
            prepared = self._prepare(envelope, cls, fields, entity)
            changed = entity.update(prepared)
            if getattr(entity, "source", None) is not None and changed:
                entity.update({"overrides": sorted({*entity.overrides, *changed})})  # type: ignore[attr-defined]
            claims = self._move_claim(envelope.tenant_id, kind, str(entity.id), old_name, entity.unique_name)
            return self._commit(entity, *claims)

    def change_members(
        self,
        envelope: Envelope,
        server_id: str,
        field_name: str,
        member_id: str,
        add: bool,
        expected_version: int | None = None,
    ) -> Written:
        """Add or remove one member of a server's ``field_name`` (``tool_ids``, ...), worked out from the server
        as stored, never from a read model that may lag behind it: a member someone added meanwhile stays.
        Raises: as update_entity."""
        server = self._load(KINDS["server"], server_id, envelope.tenant_id)
        self._check_version(server, expected_version)
        current = list(getattr(server, field_name, None) or [])
        if add:
            wanted = current if member_id in current else [*current, member_id]
        else:
            wanted = [m for m in current if m != member_id]
        # conditional on the version read: a change in between is a conflict, not overwritten
        return self.update_entity(envelope, "server", server_id, {field_name: wanted}, server.version)

    def _move_claim(self, tenant_id: str, kind: str, owner_id: str, old: str | None, new: str) -> list[NameClaim]:
        if old == new:
            return []
        claims = [self._claim(tenant_id, kind, new, owner_id)]
        if old is not None:
            released = self._release(tenant_id, kind, old, owner_id)
            claims += [released] if released is not None else []
        return claims

    @retried_on_concurrent_write
    def change_entity(
        self, envelope: Envelope, kind: str, entity_id: str, action: str, expected_version: int | None = None
    ) -> Written:
        """Enable, disable or delete. Raises: NotFoundError, GoneError, VersionConflictError."""
        cls = KINDS[kind]
        with self._command(envelope):
            entity: CatalogEntity = self._load(cls, entity_id, envelope.tenant_id)
            self._check_version(entity, expected_version)
            claims = []
            if action == "delete":
                released = self._release(envelope.tenant_id, kind, entity.unique_name, str(entity.id))
                claims = [released] if released is not None else []
            self._apply_lifecycle(entity, action, None)
            return self._commit(entity, *claims)

    @staticmethod
    def _apply_lifecycle(entity: CatalogEntity, action: str, fields: dict[str, Any] | None) -> None:
        if action == "enable":
            entity.enable()
        elif action == "disable":
            entity.disable()
        elif action == "delete":
            entity.delete()
        elif action == "update":
            entity.update(fields or {})
        else:
            raise ValueError(action)

    @retried_on_concurrent_write
    def revert_entity(self, envelope: Envelope, kind: str, entity_id: str, version: int) -> Written:
        """Append an event restoring the state of ``version``. Raises: NotFoundError, ValidationError, ConflictError."""
        cls = KINDS[kind]
        with self._command(envelope):
            entity: CatalogEntity = self._load(cls, entity_id, envelope.tenant_id)
            if not 1 <= version <= entity.version:
                raise ValidationError(f"version must be between 1 and {entity.version}", field="version")
            past: CatalogEntity = self.repository.get(entity.id, version=version)
            state = past.state()
            if past.deleted:
                raise ValidationError(f"version {version} is a deleted state; pick an earlier version", field="version")
            old_name = None if entity.deleted else entity.unique_name
            entity.revert(version, state)
            claims = self._move_claim(envelope.tenant_id, kind, str(entity.id), old_name, entity.unique_name)
            return self._commit(entity, *claims)

    # -- tokens -----------------------------------------------------------------------------------

    @retried_on_concurrent_write
    def issue_token(
        self,
        envelope: Envelope,
        issuer_role: str,
        name: str,
        subject: str,
        role: str,
        server_ids: list[str] | None,
        ttl: timedelta | None,
        issue_key: str | None = None,
    ) -> tuple[Written, str]:
        """Record a token and sign it; the JWT is returned once and never stored. With ``issue_key``, the
        token's id derives from it, so a second issue with that key (a form sent again, to any worker)
        issues nothing. Raises: AlreadyIssuedError (that key's token exists), ForbiddenError, ..."""
        with self._command(envelope):
            self.require_tenant(envelope.tenant_id)
            if role not in ("client", "viewer", "editor", "admin", "platform-admin"):
                raise ValidationError(f"unknown role {role!r}", field="role")
            if role_rank(role) > role_rank(issuer_role):
                raise ForbiddenError(f"a {issuer_role} token can't issue a {role} token")
            for server_id in server_ids or []:
                self._load_member(VirtualServer, server_id, envelope.tenant_id, "server_ids")
            token_id = issued_token_id(envelope.tenant_id, issue_key) if issue_key is not None else None
            if token_id is not None and token_id in self.repository:
                existing: ApiToken = self._load(ApiToken, token_id, envelope.tenant_id)
                raise AlreadyIssuedError(
                    f"the token {existing.name!r} ({token_id}) was already issued with this key; "
                    "its secret is not shown again",
                    existing_id=str(token_id),
                    name=existing.name,
                    role=existing.role,
                    revoked=existing.revoked,
                    issued_at=existing.created_on.isoformat(timespec="seconds"),
                    position=self.recorder.max_notification_id() or 0,  # at or after its Issued event
                )
            now = datetime.now(UTC).replace(microsecond=0)  # the JWT's times are whole seconds: record the same
            expires_at = now + ttl if ttl is not None else None
            token = ApiToken.issue(name, subject, role, server_ids, expires_at, token_id)
            written = self._commit(token)
        claims: dict[str, Any] = {
            "sub": subject,
            "tid": envelope.tenant_id,
            "role": role,
            "jti": written.id,
            "iat": int(now.timestamp()),
        }
        if server_ids is not None:
            claims["srv"] = token.server_ids
        if expires_at is not None:
            claims["exp"] = int(expires_at.timestamp())
        return written, self.signer.sign(claims)

    @retried_on_concurrent_write
    def revoke_token(self, envelope: Envelope, token_id: str) -> Written:
        """Revoke a token of the envelope's tenant. Raises: NotFoundError."""
        with self._command(envelope):
            token: ApiToken = self._load(ApiToken, token_id, envelope.tenant_id)
            token.revoke()
            return self._commit(token)
