"""Moving a tenant's data key with an export, and all-or-nothing imports, against real stores."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any
from uuid import UUID

import msgspec
import pytest

from ledgergate.api.runtime import Runtime, build_runtime
from ledgergate.application.archive_keys import KeyTransportError
from ledgergate.application.archive_service import ArchiveService
from ledgergate.application.event_archive import ArchiveError, verify_lines
from ledgergate.application.registry import PLATFORM_TENANT
from ledgergate.application.secrets import unseal
from ledgergate.domain.envelope import Envelope
from ledgergate.infrastructure.crypto.key_transport import PassphraseKeyTransport
from ledgergate.infrastructure.stored_records import StoreEventLog
from tests.conftest import make_settings

SECRET = "s3cr3t-header-value"
TOOL = {
    "name": "lookup",
    "input_schema": {"type": "object"},
    "integration": {"method": "GET", "url": "https://api.example.com/x", "headers": {"X-Key": SECRET}},
}


def who(tenant: str) -> Envelope:
    return Envelope(tenant, "alice", "corr", "cause")


def archive(runtime: Runtime) -> ArchiveService:
    return ArchiveService(StoreEventLog(runtime.registry), "test", keys=PassphraseKeyTransport(runtime.registry.cipher))  # type: ignore[arg-type]


def with_tenants(runtime: Runtime, *tenants: str) -> dict[str, str]:
    """Each tenant with one tool carrying a secret header; returns tool ids by tenant."""
    ids = {}
    for tenant in tenants:
        runtime.registry.create_tenant(who(PLATFORM_TENANT), {"name": tenant})
        ids[tenant] = runtime.registry.create_entity(who(tenant), "tool", TOOL).id
    return ids


def secret_of(runtime: Runtime, tenant: str, tool_id: str) -> str:
    tool = runtime.registry.repository.get(UUID(tool_id))
    return str(unseal(tool.state()["integration"]["headers"]["X-Key"], tenant, runtime.registry.cipher))


@pytest.fixture
def source(tmp_path: Path) -> Any:
    runtime = build_runtime(make_settings(tmp_path / "source"), follow=False)
    ids = with_tenants(runtime, "acme", "globex")
    yield runtime, ids
    runtime.close()


@pytest.fixture
def target(settings: Any) -> Any:
    runtime = build_runtime(settings, follow=False)
    yield runtime
    runtime.close()


def test_a_tenant_moves_with_its_key_and_its_secrets_decrypt_in_the_target(source: Any, target: Runtime) -> None:
    runtime, ids = source
    lines = list(archive(runtime).export("acme", with_keys=True, passphrase="correct horse"))
    header, count = verify_lines(lines)
    assert list(header["keys"]) == ["acme"] and SECRET not in b"".join(lines).decode()
    report = archive(target).import_lines(lines, passphrase="correct horse")
    assert report["imported"] == count and report["tenants"]["acme"]["imported"] == count
    assert "installed" in report["tenants"]["acme"]["secrets"] and list(report["tenants"]) == ["acme"]
    assert secret_of(target, "acme", ids["acme"]) == SECRET
    again = archive(target).import_lines(lines, passphrase="correct horse")
    assert (again["imported"], again["skipped"]) == (0, count) and "same key" in again["tenants"]["acme"]["secrets"]


def test_a_wrong_passphrase_is_refused_and_nothing_is_written(source: Any, target: Runtime) -> None:
    runtime, _ = source
    lines = list(archive(runtime).export("acme", with_keys=True, passphrase="correct horse"))
    with pytest.raises(KeyTransportError, match="wrong passphrase"):
        archive(target).import_lines(lines, passphrase="wrong horse")
    assert StoreEventLog(target.registry).is_empty()
    assert not PassphraseKeyTransport(target.registry.cipher).has_key("acme")  # type: ignore[arg-type]


def test_a_key_swapped_into_the_header_breaks_the_chain_at_line_one(source: Any, target: Runtime) -> None:
    runtime, _ = source
    mine = list(archive(runtime).export("acme", with_keys=True, passphrase="p1"))
    theirs = list(archive(runtime).export("acme", with_keys=True, passphrase="attacker"))
    header = msgspec.json.decode(mine[0])
    header["keys"] = msgspec.json.decode(theirs[0])["keys"]
    tampered = [msgspec.json.encode(header) + b"\n", *mine[1:]]
    with pytest.raises(ArchiveError) as raised:
        archive(target).import_lines(tampered, passphrase="attacker")
    assert raised.value.line == 1 and "header" in str(raised.value)
    assert StoreEventLog(target.registry).is_empty()


def test_without_the_passphrase_events_import_and_the_report_says_secrets_stay_unreadable(
    source: Any, target: Runtime
) -> None:
    runtime, ids = source
    lines = list(archive(runtime).export("acme", with_keys=True, passphrase="pw"))
    report = archive(target).import_lines(lines)
    assert report["imported"] == len(lines) - 2
    assert "no passphrase" in report["tenants"]["acme"]["secrets"]
    with pytest.raises(Exception, match="no data key"):
        secret_of(target, "acme", ids["acme"])
    later = archive(target).import_lines(lines, passphrase="pw")
    assert later["imported"] == 0 and "installed" in later["tenants"]["acme"]["secrets"]
    assert secret_of(target, "acme", ids["acme"]) == SECRET


def test_a_file_without_keys_reports_that_the_targets_secrets_are_unreadable(source: Any, target: Runtime) -> None:
    runtime, _ = source
    report = archive(target).import_lines(list(archive(runtime).export("globex")))
    assert "unreadable" in report["tenants"]["globex"]["secrets"] and list(report["tenants"]) == ["globex"]


def test_a_target_with_another_key_for_the_tenant_refuses_and_writes_nothing(source: Any, target: Runtime) -> None:
    runtime, _ = source
    target.registry.create_tenant(who(PLATFORM_TENANT), {"name": "acme"})  # makes its own, different key
    head = StoreEventLog(target.registry).head()
    lines = list(archive(runtime).export("acme", with_keys=True, passphrase="pw"))
    with pytest.raises(KeyTransportError, match="different data key"):
        archive(target).import_lines(lines, passphrase="pw")
    assert StoreEventLog(target.registry).head() == head


def test_a_shredded_tenants_key_cannot_be_exported(source: Any) -> None:
    runtime, _ = source
    runtime.registry.change_tenant(who(PLATFORM_TENANT), "globex", "delete", shred=True)
    with pytest.raises(KeyTransportError, match="shredded"):
        archive(runtime).export("globex", with_keys=True, passphrase="pw")
    with pytest.raises(KeyTransportError, match="tenant"):
        archive(runtime).export(None, with_keys=True, passphrase="pw")


def test_an_earlier_export_cannot_bring_back_a_key_that_was_shredded_here(source: Any) -> None:
    runtime, ids = source
    earlier = list(archive(runtime).export("globex", with_keys=True, passphrase="pw"))
    runtime.registry.change_tenant(who(PLATFORM_TENANT), "globex", "delete", shred=True)
    head = runtime.registry.recorder.max_notification_id()
    with pytest.raises(KeyTransportError, match="shredded here"):
        archive(runtime).import_lines(earlier, passphrase="pw")
    assert runtime.registry.recorder.max_notification_id() == head
    assert not PassphraseKeyTransport(runtime.registry.cipher).has_key("globex")
    with pytest.raises(Exception, match="shredded"):
        secret_of(runtime, "globex", ids["globex"])


def test_an_import_broken_at_its_last_line_writes_nothing(source: Any, target: Runtime) -> None:
    runtime, _ = source
    lines = list(archive(runtime).export())
    trailer = json.loads(lines[-1])
    cut = [*lines[:-1], json.dumps({**trailer, "count": trailer["count"] + 1}).encode() + b"\n"]
    with pytest.raises(ArchiveError, match="trailer"):
        archive(target).import_lines(cut)
    assert StoreEventLog(target.registry).is_empty()
    report = archive(target).import_lines(lines)
    assert report["tenants"]["acme"]["imported"] > 0 and report["tenants"]["globex"]["imported"] > 0
    assert report["imported"] == sum(t["imported"] for t in report["tenants"].values()) == len(lines) - 2


def test_a_dry_run_reports_per_tenant_and_writes_nothing(source: Any, target: Runtime) -> None:
    runtime, _ = source
    report = archive(target).import_lines(list(archive(runtime).export()), dry_run=True)
    assert report["dry_run"] and report["tenants"]["acme"]["imported"] > 0
    assert StoreEventLog(target.registry).is_empty()
    keyed = list(archive(runtime).export("acme", with_keys=True, passphrase="pw"))
    checked = archive(target).import_lines(keyed, dry_run=True, passphrase="pw")
    assert "would be installed" in checked["tenants"]["acme"]["secrets"]
    assert not PassphraseKeyTransport(target.registry.cipher).has_key("acme")  # type: ignore[arg-type]


def as_version_1(lines: list[bytes]) -> list[bytes]:
    """The same events in the version 1 layout: no header hash, the chain starts from zeros."""
    header = {k: v for k, v in msgspec.json.decode(lines[0]).items() if k not in ("hash", "keys")}
    previous, out = "0" * 64, [msgspec.json.encode({**header, "version": 1}) + b"\n"]
    for raw in lines[1:-1]:
        body = {k: v for k, v in msgspec.json.decode(raw).items() if k != "hash"}
        previous = hashlib.sha256(previous.encode() + msgspec.json.encode(body, order="sorted")).hexdigest()
        out.append(msgspec.json.encode({**body, "hash": previous}) + b"\n")
    trailer = msgspec.json.decode(lines[-1])
    return [*out, msgspec.json.encode({**trailer, "final_hash": previous}) + b"\n"]


def test_a_version_1_file_is_still_read_and_imported(source: Any, target: Runtime) -> None:
    runtime, _ = source
    old = as_version_1(list(archive(runtime).export("globex")))
    header, count = verify_lines(old)
    assert header["version"] == 1 and count == len(old) - 2
    assert archive(target).import_lines(old)["tenants"]["globex"]["imported"] == count
