"""Tenants, name claims and API tokens."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ledgergate.domain.api_token import ROLES, ApiToken, role_rank
from ledgergate.domain.envelope import Envelope, recording
from ledgergate.domain.errors import InvalidValueError
from ledgergate.domain.name_claim import NameClaim, NameTakenError, claim_id
from ledgergate.domain.tenant import Tenant, tenant_stream_id
from tests.domain.builders import ENVELOPE, event_names


def new_tenant(slug: str = "acme") -> Tenant:
    with recording(Envelope(slug, "root", "corr-0", "req-0")):
        return Tenant(fields=Tenant.normalise({**Tenant.DEFAULTS, "name": slug}))


def new_claim(owner_id: str = "tool-1") -> NameClaim:
    with recording(ENVELOPE):
        return NameClaim(tenant_id="acme", kind="tool", name="search", owner_id=owner_id)


def test_a_tenant_id_derives_from_its_slug() -> None:
    tenant = new_tenant("acme")

    assert tenant.id == tenant_stream_id("acme")
    assert tenant.id != tenant_stream_id("acme-2")
    assert new_tenant("acme").id == tenant.id


def test_a_tenant_slug_is_immutable_but_its_other_fields_change() -> None:
    tenant = new_tenant()

    with recording(ENVELOPE), pytest.raises(InvalidValueError) as raised:
        tenant.update({"name": "acme-corp"})
    assert raised.value.field == "name"

    with recording(ENVELOPE):
        changes = tenant.update({"name": "acme", "display_name": "ACME Corp"})
    assert changes == {"display_name": "ACME Corp"}
    assert (tenant.name, tenant.version) == ("acme", 2)


@pytest.mark.parametrize("slug", ["ACME", "-acme", "acme-", "a_b", "", "a" * 64])
def test_a_tenant_slug_must_be_lower_case_letters_digits_and_inner_dashes(slug: str) -> None:
    with pytest.raises(InvalidValueError):
        new_tenant(slug)


def test_a_name_claim_id_derives_from_tenant_kind_and_name() -> None:
    claim = new_claim()

    assert claim.id == claim_id("acme", "tool", "search")
    others = [claim_id("acme", "prompt", "search"), claim_id("other", "tool", "search"), claim_id("acme", "tool", "x")]
    assert claim.id not in others
    assert claim.owner_id == "tool-1"


def test_claiming_a_name_owned_by_another_entity_raises_name_taken() -> None:
    claim = new_claim()

    with recording(ENVELOPE), pytest.raises(NameTakenError) as raised:
        claim.claim("tool-2")

    assert (raised.value.kind, raised.value.name, raised.value.owner_id) == ("tool", "search", "tool-1")
    assert claim.owner_id == "tool-1"
    assert event_names(claim.pending_events) == ["Claimed"]


def test_claiming_again_by_the_owner_and_releasing_by_a_stranger_record_nothing() -> None:
    claim = new_claim()

    with recording(ENVELOPE):
        claim.claim("tool-1")
        claim.release("tool-2")

    assert claim.owner_id == "tool-1"
    assert claim.version == 1


def test_a_released_name_can_be_reclaimed_by_another_entity() -> None:
    claim = new_claim()

    with recording(ENVELOPE):
        claim.release("tool-1")
        released_owner = claim.owner_id
        claim.claim("tool-2")

    assert released_owner is None
    assert claim.owner_id == "tool-2"
    assert event_names(claim.pending_events) == ["Claimed", "Released", "Reclaimed"]


def test_roles_are_ranked_from_client_to_platform_admin() -> None:
    assert ROLES == ("client", "viewer", "editor", "admin", "platform-admin")
    assert [role_rank(role) for role in ROLES] == [0, 1, 2, 3, 4]
    assert role_rank("viewer") < role_rank("editor") < role_rank("platform-admin")


def test_issuing_a_token_records_its_scope_and_revoking_twice_records_once() -> None:
    expires = datetime(2030, 1, 1, tzinfo=UTC)
    with recording(ENVELOPE):
        token = ApiToken.issue("ci", "bot@acme", "editor", ["s2", "s1", "s2"], expires)
        first, second = token.revoke(), token.revoke()

    assert token.describe() == {
        "name": "ci",
        "subject": "bot@acme",
        "role": "editor",
        "server_ids": ["s1", "s2"],
        "expires_at": expires,
        "revoked": True,
    }
    assert (first, second) == (True, False)
    assert event_names(token.pending_events) == ["Issued", "Revoked"]
    assert token.pending_events[0].tenant_id == "acme"


@pytest.mark.parametrize(
    ("name", "subject", "role", "server_ids", "field"),
    [
        ("ci", "bot", "root", None, "role"),
        ("", "bot", "viewer", None, "name"),
        ("ci", " ", "viewer", None, "subject"),
        ("ci", "bot", "viewer", "s1", "server_ids"),
        ("ci", "bot", "viewer", [1], "server_ids"),
    ],
)
def test_a_token_with_a_bad_name_subject_role_or_scope_is_refused(
    name: str, subject: str, role: str, server_ids: object, field: str
) -> None:
    with recording(ENVELOPE), pytest.raises(InvalidValueError) as raised:
        ApiToken.issue(name, subject, role, server_ids, None)  # type: ignore[arg-type]
    assert raised.value.field == field


@pytest.mark.parametrize("subject", ["system:supervisor", "acme:admin", "cli:contextforge-import", ":", "x:"])
def test_a_token_subject_that_looks_like_a_system_or_qualified_actor_is_refused(subject: str) -> None:
    with recording(ENVELOPE), pytest.raises(InvalidValueError) as raised:
        ApiToken.issue("ci", subject, "viewer", None, None)
    assert raised.value.field == "subject"


@pytest.mark.parametrize("slug", ["system", "cli"])
def test_a_tenant_slug_that_names_system_actors_is_refused(slug: str) -> None:
    with pytest.raises(InvalidValueError) as raised:
        new_tenant(slug)
    assert raised.value.field == "name"
