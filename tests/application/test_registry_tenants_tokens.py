"""Tenants, tenant isolation and API tokens through the registry."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

import pytest

from ledgergate.application.errors import (
    AlreadyIssuedError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    ValidationError,
    VersionConflictError,
)
from ledgergate.application.registry import PLATFORM_TENANT
from ledgergate.domain.api_token import ApiToken, issued_token_id
from ledgergate.domain.tenant import Tenant, tenant_stream_id
from ledgergate.domain.tool import Tool
from tests.application.fakes import FakeCipher, FakeSigner, envelope, head, new_registry, tool


def test_creating_a_tenant_creates_its_data_key_and_stamps_its_own_slug_on_the_event() -> None:
    registry = new_registry(tenants=())

    written = registry.create_tenant(envelope(PLATFORM_TENANT, actor="root"), {"name": "acme"})

    assert written.id == str(tenant_stream_id("acme"))
    assert isinstance(registry.cipher, FakeCipher)
    assert registry.cipher.tenant_keys == {"acme"}
    [created] = registry.events.get(tenant_stream_id("acme"))
    assert (created.tenant_id, created.actor) == ("acme", "root")


def test_a_second_tenant_with_the_same_slug_is_a_conflict_and_writes_nothing() -> None:
    registry = new_registry()
    before = head(registry)

    with pytest.raises(ConflictError):
        registry.create_tenant(envelope(PLATFORM_TENANT), {"name": "acme", "display_name": "Other"})

    assert head(registry) == before


def test_a_tenant_slug_cannot_be_changed_but_its_display_name_can() -> None:
    registry = new_registry()

    with pytest.raises(ValidationError) as raised:
        registry.change_tenant(envelope(PLATFORM_TENANT), "acme", "update", {"name": "acme-corp"})
    written = registry.change_tenant(envelope(PLATFORM_TENANT), "acme", "update", {"display_name": "ACME"})

    assert raised.value.extra["field"] == "name"
    assert written.version == 2
    tenant: Tenant = registry.repository.get(tenant_stream_id("acme"))
    assert (tenant.name, tenant.display_name) == ("acme", "ACME")
    with pytest.raises(VersionConflictError):
        registry.change_tenant(envelope(PLATFORM_TENANT), "acme", "disable", expected_version=1)


def test_a_disabled_tenant_refuses_new_entities_and_tokens() -> None:
    registry = new_registry()
    registry.change_tenant(envelope(PLATFORM_TENANT), "acme", "disable")

    with pytest.raises(ForbiddenError):
        registry.create_entity(envelope(), "tool", tool())
    with pytest.raises(ForbiddenError):
        registry.issue_token(envelope(), "admin", "ci", "bot", "viewer", None, None)
    with pytest.raises(NotFoundError):
        registry.create_entity(envelope("nobody"), "tool", tool())


def test_shredding_goes_only_with_delete_and_destroys_the_key_after_the_deletion_is_recorded() -> None:
    registry = new_registry()
    assert isinstance(registry.cipher, FakeCipher)

    with pytest.raises(ValidationError):
        registry.change_tenant(envelope(PLATFORM_TENANT), "acme", "disable", shred=True)
    assert registry.cipher.shredded == []

    written = registry.change_tenant(envelope(PLATFORM_TENANT), "acme", "delete", shred=True)

    assert registry.cipher.shredded == ["acme"]
    assert written.position == head(registry)
    assert registry.repository.get(tenant_stream_id("acme")).deleted is True


def test_another_tenants_envelope_cannot_load_change_or_revert_a_tool() -> None:
    registry = new_registry(("acme", "globex"))
    written = registry.create_entity(envelope("acme"), "tool", tool())
    before = head(registry)

    with pytest.raises(NotFoundError):
        registry._load(Tool, written.id, "globex")
    with pytest.raises(NotFoundError):
        registry.update_entity(envelope("globex"), "tool", written.id, {"description": "mine now"})
    with pytest.raises(NotFoundError):
        registry.change_entity(envelope("globex"), "tool", written.id, "delete")
    with pytest.raises(NotFoundError):
        registry.revert_entity(envelope("globex"), "tool", written.id, 1)

    assert head(registry) == before


def test_a_tool_id_is_not_found_when_asked_for_as_another_kind() -> None:
    registry = new_registry()
    written = registry.create_entity(envelope(), "tool", tool())

    with pytest.raises(NotFoundError):
        registry.update_entity(envelope(), "prompt", written.id, {"description": "x"})


def test_issuing_a_token_records_it_and_signs_claims_that_name_it() -> None:
    registry = new_registry()
    server = registry.create_entity(envelope(), "server", {"name": "research"})

    written, jwt = registry.issue_token(envelope(), "admin", "ci", "bot", "editor", [server.id], timedelta(hours=1))

    assert isinstance(registry.signer, FakeSigner)
    [claims] = registry.signer.signed
    assert jwt == "jwt-1"
    assert (claims["sub"], claims["tid"], claims["role"], claims["jti"]) == ("bot", "acme", "editor", written.id)
    assert claims["srv"] == [server.id]
    assert claims["exp"] - claims["iat"] == 3600
    token: ApiToken = registry.repository.get(UUID(written.id))
    assert (token.role, token.revoked, token.tenant_id) == ("editor", False, "acme")
    assert jwt.encode() not in b"".join(n.state for n in registry.recorder.select_notifications(start=1, limit=99))


def test_a_token_issued_again_with_its_issue_key_issues_nothing_and_signs_nothing() -> None:
    registry = new_registry(("acme", "globex"))
    key = "k" * 22
    written, _ = registry.issue_token(envelope(), "admin", "ci", "bot", "viewer", None, None, key)
    before = head(registry)

    with pytest.raises(AlreadyIssuedError) as raised:
        registry.issue_token(envelope(), "admin", "other", "bot", "editor", None, None, key)
    elsewhere, _ = registry.issue_token(envelope("globex"), "admin", "ci", "bot", "viewer", None, None, key)

    assert written.id == str(issued_token_id("acme", key)) and elsewhere.id != written.id  # a key is per tenant
    assert raised.value.extra["existing_id"] == written.id and raised.value.extra["name"] == "ci"
    assert raised.value.extra["position"] >= written.position and "jwt" not in str(raised.value.extra)
    assert head(registry) == before + 1  # the globex token only
    assert isinstance(registry.signer, FakeSigner) and len(registry.signer.signed) == 2


@pytest.mark.parametrize("key", ["", "short", "k" * 129, "has spaces in it, 22ch"])
def test_an_issue_key_that_is_not_one_is_refused_and_issues_nothing(key: str) -> None:
    registry = new_registry()
    before = head(registry)

    with pytest.raises(ValidationError) as raised:
        registry.issue_token(envelope(), "admin", "ci", "bot", "viewer", None, None, key)

    assert raised.value.extra["field"] == "issue_key" and head(registry) == before


def test_a_token_without_expiry_or_scope_has_no_exp_or_srv_claim() -> None:
    registry = new_registry()

    registry.issue_token(envelope(), "viewer", "ro", "reader", "viewer", None, None)

    assert isinstance(registry.signer, FakeSigner)
    assert "exp" not in registry.signer.signed[0]
    assert "srv" not in registry.signer.signed[0]


@pytest.mark.parametrize(("issuer", "role"), [("viewer", "editor"), ("editor", "admin"), ("admin", "platform-admin")])
def test_a_token_cannot_grant_a_role_above_its_issuer(issuer: str, role: str) -> None:
    registry = new_registry()
    before = head(registry)

    with pytest.raises(ForbiddenError):
        registry.issue_token(envelope(), issuer, "t", "s", role, None, None)

    assert head(registry) == before


def test_a_token_role_must_be_known_and_its_servers_must_exist_in_the_tenant() -> None:
    registry = new_registry(("acme", "globex"))
    foreign = registry.create_entity(envelope("globex"), "server", {"name": "research"})

    with pytest.raises(ValidationError):
        registry.issue_token(envelope(), "admin", "t", "s", "superuser", None, None)
    with pytest.raises(ValidationError):
        registry.issue_token(envelope(), "admin", "t", "s", "viewer", [foreign.id], None)


def test_revoking_a_token_records_revoked_once_and_only_in_its_tenant() -> None:
    registry = new_registry(("acme", "globex"))
    written, _ = registry.issue_token(envelope(), "admin", "ci", "bot", "client", None, None)

    with pytest.raises(NotFoundError):
        registry.revoke_token(envelope("globex"), written.id)
    first = registry.revoke_token(envelope(), written.id)
    second = registry.revoke_token(envelope(), written.id)

    assert (first.version, second.version) == (2, 2)
    assert registry.repository.get(UUID(written.id)).revoked is True
