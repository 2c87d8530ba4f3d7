"""Instance keys given by the operator (a mounted secret file or a variable) instead of the data directory's."""

from __future__ import annotations

import base64
import secrets
from pathlib import Path

import httpx
import pytest

from ledgergate.infrastructure.crypto.keys import InstanceKeys
from ledgergate.infrastructure.settings import SettingsError
from tests.api.conftest import start_server
from tests.conftest import make_settings


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def test_keys_from_a_variable_and_a_mounted_file_are_used_and_nothing_is_written(tmp_path: Path) -> None:
    jwt_key, master_key = secrets.token_bytes(32), secrets.token_bytes(32)
    secret_file = tmp_path / "secrets" / "master.key"
    secret_file.parent.mkdir()
    secret_file.write_text(b64(master_key) + "\n")
    data = tmp_path / "data"
    settings = make_settings(data, LEDGERGATE_JWT_SIGNING_KEY=b64(jwt_key), LEDGERGATE_MASTER_KEY_FILE=str(secret_file))
    keys = InstanceKeys.of(settings)
    assert (keys.jwt_key, keys.master_key, keys.created) == (jwt_key, master_key, False)
    assert not (data / "jwt-signing.key").exists() and not (data / "master.key").exists()
    assert b64(jwt_key) not in repr(settings) and b64(master_key) not in repr(settings)


def test_without_given_keys_the_data_directory_keeps_generated_ones(tmp_path: Path) -> None:
    first = InstanceKeys.of(make_settings(tmp_path))
    again = InstanceKeys.of(make_settings(tmp_path))
    assert first.created and not again.created
    assert (first.jwt_key, first.master_key) == (again.jwt_key, again.master_key)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"LEDGERGATE_MASTER_KEY": "not base64!"}, "LEDGERGATE_MASTER_KEY"),
        ({"LEDGERGATE_MASTER_KEY": b64(b"short")}, "32 bytes"),
        ({"LEDGERGATE_JWT_SIGNING_KEY_FILE": "/nonexistent/jwt.key"}, "LEDGERGATE_JWT_SIGNING_KEY_FILE"),
        (
            {"LEDGERGATE_JWT_SIGNING_KEY": b64(bytes(32)), "LEDGERGATE_JWT_SIGNING_KEY_FILE": "/run/secrets/x"},
            "both set",
        ),
        ({"LEDGERGATE_MASTER_KEYS_RETIRED": b64(bytes(32))}, "no master key is given"),
        (
            {"LEDGERGATE_MASTER_KEY": b64(bytes(32)), "LEDGERGATE_MASTER_KEYS_RETIRED": f"{b64(bytes(32))}, short"},
            "LEDGERGATE_MASTER_KEYS_RETIRED: key 2 is not",
        ),
    ],
)
def test_a_key_that_cannot_be_used_stops_the_start_naming_its_setting(
    tmp_path: Path, env: dict[str, str], named: str
) -> None:
    with pytest.raises(SettingsError, match=named):
        make_settings(tmp_path, **env)


@pytest.mark.slow
@pytest.mark.postgres
def test_two_replicas_with_separate_volumes_share_keys_from_mounted_files(tmp_path: Path, postgres_url: str) -> None:
    mounted = tmp_path / "secrets"
    mounted.mkdir()
    for name in ("jwt-signing.key", "master.key", "signing.key"):
        (mounted / name).write_text(b64(secrets.token_bytes(32)) + "\n")
    keys = {
        "LEDGERGATE_JWT_SIGNING_KEY_FILE": str(mounted / "jwt-signing.key"),
        "LEDGERGATE_MASTER_KEY_FILE": str(mounted / "master.key"),
        "LEDGERGATE_SIGNING_KEY_FILE": str(mounted / "signing.key"),
    }
    first = start_server(tmp_path / "a" / "data", postgres_url, **keys)
    second = start_server(tmp_path / "b" / "data", postgres_url, **keys)
    try:
        token = (tmp_path / "a" / "data" / "admin-token").read_text().strip()
        headers = {"Authorization": f"Bearer {token}"}
        created = httpx.post(second.url + "/v1/tenants", json={"name": "acme"}, headers=headers)
        assert created.status_code == 201, created.text  # the first replica's token, checked by the second
        position = created.json()["position"]
        listed = httpx.get(f"{first.url}/v1/tenants?min_position={position}", headers=headers)
        assert "acme" in listed.text
        published = [httpx.get(r.url + "/.well-known/ledgergate-signing-key").json() for r in (first, second)]
        assert published[0] == published[1]  # exports and checkpoints of either replica verify with one key
    finally:
        first.stop()
        second.stop()
    for replica in ("a", "b"):
        assert sorted(p.name for p in (tmp_path / replica / "data").iterdir() if p.name.endswith(".key")) == []


def test_retired_master_keys_are_read_from_a_file_of_keys_one_a_line(tmp_path: Path) -> None:
    keys = [bytes([n]) * 32 for n in (1, 2)]
    listed = tmp_path / "retired"
    listed.write_text("\n".join(b64(k) for k in keys) + "\n")
    settings = make_settings(
        tmp_path / "data", LEDGERGATE_MASTER_KEY=b64(bytes(32)), LEDGERGATE_MASTER_KEYS_RETIRED_FILE=str(listed)
    )
    assert settings.master_keys_retired == tuple(keys)
