"""Signed exports: a genuine file verifies with the public key alone elsewhere; forgeries are refused."""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from ledgergate.api.runtime import Runtime, build_runtime
from ledgergate.application.event_archive import (
    GENESIS,
    ArchiveError,
    _chain,
    trailer_payload,
    verified_reader,
    verify_lines,
)
from ledgergate.application.registry import PLATFORM_TENANT
from ledgergate.domain.envelope import Envelope
from ledgergate.infrastructure.crypto.signing import SigningKey, verify_signature
from tests.api.conftest import start_server
from tests.conftest import make_settings

TOOL = {
    "name": "lookup",
    "input_schema": {"type": "object"},
    "integration": {"method": "GET", "url": "https://api.example.com/x", "headers": {"X-Key": "hush"}},
}


def cli(data_dir: Path, *args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "LEDGERGATE_DATA_DIR": str(data_dir), **env}
    return subprocess.run(
        [sys.executable, "-m", "ledgergate.api.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=environ,
        cwd=cwd,
    )


@pytest.fixture
def source(tmp_path: Path) -> Any:
    runtime = build_runtime(make_settings(tmp_path / "source"), follow=False)
    runtime.registry.create_tenant(Envelope(PLATFORM_TENANT, "alice", "c", "c"), {"name": "acme"})
    for n in range(3):
        runtime.registry.create_entity(Envelope("acme", "alice", "c", "c"), "tool", {**TOOL, "name": f"t{n}"})
    yield runtime
    runtime.close()


def rechained(lines: list[bytes], edit: Any) -> list[bytes]:
    """The file with ``edit`` applied to each decoded line, every hash and the trailer recomputed (the
    signature kept): what someone without the private key can do."""
    decoded = [msgspec.json.decode(line) for line in lines]
    out, previous = [], GENESIS
    for line in decoded:
        line = edit(line) or line
        if line.get("trailer"):
            line["final_hash"], line["count"] = previous, len(out) - 1
        else:
            previous = _chain(previous, {k: v for k, v in line.items() if k != "hash"})
            line["hash"] = previous
        out.append(msgspec.json.encode(line) + b"\n")
    return out


def changed_state(line: dict[str, Any]) -> None:
    if line.get("type", "").endswith("Tool.Registered") or line.get("position") == 3:
        line["state"] = base64.b64encode(base64.b64decode(line["state"]).replace(b"t1", b"tX")).decode()


def trusted(runtime: Runtime) -> dict[str, str]:
    assert runtime.signing is not None
    return {runtime.signing.key_id: runtime.signing.public_key}


def test_a_genuine_export_verifies_with_the_public_key_alone_in_another_process_and_data_dir(
    source: Runtime, tmp_path: Path
) -> None:
    export = tmp_path / "export.jsonl"
    export.write_bytes(b"".join(source.archive.export()))
    shown = cli(source.settings.data_dir, "keys", "show", "--json")
    public_key = json.loads(shown.stdout)["signing_key"]["public_key"]
    elsewhere = tmp_path / "auditor"
    elsewhere.mkdir()
    proved = cli(elsewhere / "data", "events", "verify", str(export), "--key", public_key, cwd=elsewhere)
    assert proved.returncode == 0, proved.stderr
    assert "a trusted key: written by that instance and not altered since" in proved.stdout
    assert not (elsewhere / "data").exists()  # verifying needs no instance of its own
    keys_file = elsewhere / "trusted.keys"
    keys_file.write_text(f"# the source instance\n{public_key} source\n")
    assert cli(elsewhere / "data", "events", "verify", str(export), "--trusted-keys", str(keys_file)).returncode == 0
    unchecked = cli(elsewhere / "data", "events", "verify", str(export), cwd=elsewhere)
    assert unchecked.returncode == 0 and "not checked against a trusted key" in unchecked.stdout


def test_a_recomputed_chain_and_trailer_is_refused(source: Runtime, tmp_path: Path) -> None:
    lines = list(source.archive.export())
    forged = rechained(lines, changed_state)
    assert forged != lines
    with pytest.raises(ArchiveError, match="signature does not verify"):
        verify_lines(forged, trusted(source), verify_signature)
    path = tmp_path / "forged.jsonl"
    path.write_bytes(b"".join(forged))
    refused = cli(tmp_path / "x", "events", "verify", str(path), "--key", trusted(source).popitem()[1])
    assert refused.returncode == 1 and "NOT intact" in refused.stderr and "signature" in refused.stderr


def test_a_file_re_signed_with_another_key_or_checked_with_a_wrong_key_is_refused(
    source: Runtime, tmp_path: Path
) -> None:
    lines = list(source.archive.export())
    with pytest.raises(ArchiveError, match="not a trusted key"):
        verify_lines(lines, trusted(build_other(tmp_path)), verify_signature)
    forger = SigningKey(tmp_path / "forger")

    def resign(line: dict[str, Any]) -> None:
        if "format" in line:
            line["signing"] = {"algorithm": "ed25519", "key_id": forger.key_id, "public_key": forger.public_key}
        changed_state(line)

    forged = rechained(lines, resign)
    trailer = msgspec.json.decode(forged[-1])
    trailer["signed_by"] = forger.key_id
    trailer["signature"] = forger.sign(trailer_payload(trailer))
    forged[-1] = msgspec.json.encode(trailer) + b"\n"
    assert verify_lines(forged, None, verify_signature)  # consistent with the key it names...
    with pytest.raises(ArchiveError, match="not a trusted key"):  # ...which is not the instance's
        verify_lines(forged, trusted(source), verify_signature)


def build_other(tmp_path: Path) -> Runtime:
    other = build_runtime(make_settings(tmp_path / "other"), follow=False)
    other.close()
    return other


def test_a_stripped_signature_is_refused_and_a_downgraded_file_proves_nothing(source: Runtime) -> None:
    lines = list(source.archive.export())
    trailer = {k: v for k, v in msgspec.json.decode(lines[-1]).items() if k != "signature"}
    stripped = [*lines[:-1], msgspec.json.encode(trailer) + b"\n"]
    with pytest.raises(ArchiveError, match="stripped"):
        verify_lines(stripped)  # even without a key
    downgraded = rechained(
        lines,
        lambda line: (
            {k: v for k, v in line.items() if k not in ("signing",)} | ({"version": 2} if "format" in line else {})
            if not line.get("trailer")
            else {"trailer": True, "count": 0, "final_hash": ""}
        ),
    )
    assert verify_lines(downgraded)[1] == len(lines) - 2  # a valid unsigned file, as versions 1 and 2 are
    with pytest.raises(ArchiveError, match="unsigned"):
        verify_lines(downgraded, trusted(source), verify_signature)


def test_imports_with_trusted_keys_take_only_signed_files_and_record_who_exported_and_imported(
    source: Runtime, tmp_path: Path
) -> None:
    lines = list(source.archive.export("acme"))
    keys_file = tmp_path / "trusted.keys"
    keys_file.write_text(trusted(source).popitem()[1] + "\n")
    target = build_runtime(make_settings(tmp_path / "target", LEDGERGATE_TRUSTED_KEYS=str(keys_file)), follow=False)
    try:
        for forged in (rechained(lines, changed_state), [*lines[:-1], lines[-1].replace(b'"signature":"', b'"x":"')]):
            with pytest.raises(ArchiveError):
                target.archive.import_lines(forged)
        assert target.registry.recorder.max_notification_id() in (None, 0)  # nothing was written
        report = target.archive.import_lines(lines, actor="auditor")
        assert report["signature"] == "verified" and report["imported"] == len(lines) - 2
        custody = [e for _, e in target.audit.events() if type(e).__name__ == "ExportImported"]
        assert len(custody) == 1
        assert custody[0].exporter == source.archive.source and custody[0].signing_key == source.signing.key_id  # type: ignore[union-attr]
        assert custody[0].importer == f"{target.archive.source} (auditor)" and custody[0].signature == "verified"
    finally:
        target.close()


def test_the_public_key_is_served_at_a_well_known_url(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data")
    try:
        served = httpx.get(server.url + "/.well-known/ledgergate-signing-key", timeout=10).json()
    finally:
        server.stop()
    shown = json.loads(cli(tmp_path / "data", "keys", "show", "--json").stdout)
    assert served["public_key"] == shown["signing_key"]["public_key"] and served["key_id"].startswith("sk-")
    assert (tmp_path / "data" / "signing-ed25519.key").stat().st_mode & 0o777 == 0o600


def test_events_verify_recomputes_the_live_links_the_lines_carry(source: Runtime, tmp_path: Path) -> None:
    """A signed file is intact as a file even when the log it was exported from had a link altered: the links
    it carries then disagree with their events, which ``events verify`` finds without the instance."""
    genuine = tmp_path / "genuine.jsonl"
    genuine.write_bytes(b"".join(source.archive.export()))
    checked = cli(tmp_path / "x", "events", "verify", str(genuine), "--json")
    assert checked.returncode == 0, checked.stderr
    count = json.loads(checked.stdout)["events"]
    assert json.loads(checked.stdout)["links_checked"] == count  # every line follows the one before it
    text = cli(tmp_path / "x", "events", "verify", str(genuine))
    assert f"its live links agree with their events and with each other ({count} recomputed)" in text.stdout
    filtered = tmp_path / "acme.jsonl"  # a tenant's events: the links across its gaps are not in the file
    filtered.write_bytes(b"".join(source.archive.export("acme")))
    assert cli(tmp_path / "x", "events", "verify", str(filtered)).returncode == 0

    with sqlite3.connect(source.settings.database.sqlite_path) as conn:
        conn.execute("UPDATE stored_events_chain SET link = ? WHERE position = 3", (bytes(32),))
    altered = tmp_path / "altered.jsonl"
    altered.write_bytes(b"".join(source.archive.export()))
    caught = cli(tmp_path / "x", "events", "verify", str(altered), "--json")
    problem = json.loads(caught.stderr)
    assert caught.returncode == 1 and problem["type"] == "urn:ledgergate:problem:not-intact"
    assert problem["line"] == 4 and "the live link carried for position 3 does not follow" in problem["detail"]
    with pytest.raises(ArchiveError, match="line 4: the live link carried for position 3"):
        verified_reader(altered.read_bytes().splitlines(keepends=True), check_links=True)
    verify_lines(altered.read_bytes().splitlines(keepends=True))  # as a file, it is intact: import takes it
