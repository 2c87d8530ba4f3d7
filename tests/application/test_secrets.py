"""Sealing integration secrets before they are recorded, masking them on reads, unsealing to connect."""

from __future__ import annotations

from typing import Any

import pytest

from ledgergate.application.errors import ValidationError
from ledgergate.application.secrets import MASK, mask_secrets, seal_integration, unseal
from ledgergate.domain.values import SECRET_KEY
from tests.application.fakes import FakeCipher


def integration(**overrides: Any) -> dict[str, Any]:
    return {"method": "GET", "url": "https://api.example.com/x", "headers": {"X-Key": "h-secret"}, **overrides}


def test_every_header_value_and_the_auth_secret_are_sealed_for_the_tenant() -> None:
    plain = integration(auth={"type": "basic", "username": "bob", "password": "pw-1"})

    sealed = seal_integration(plain, "acme", FakeCipher())

    assert sealed["headers"]["X-Key"] == {SECRET_KEY: {"key_id": "key-acme", "ciphertext": "terces-h"}}
    password = {SECRET_KEY: {"key_id": "key-acme", "ciphertext": "1-wp"}}
    assert sealed["auth"] == {"type": "basic", "username": "bob", "password": password}
    assert plain["headers"]["X-Key"] == "h-secret"  # the input is not changed in place


@pytest.mark.parametrize(
    ("auth", "field"),
    [({"type": "bearer", "token": "t-1"}, "token"), ({"type": "header", "header": "X-Auth", "value": "v-1"}, "value")],
)
def test_each_auth_type_seals_its_own_secret_field(auth: dict[str, Any], field: str) -> None:
    sealed = seal_integration(integration(headers={}, auth=auth), "acme", FakeCipher())

    assert set(sealed["auth"][field]) == {SECRET_KEY}


def test_the_mask_keeps_the_previous_sealed_value_of_the_same_place() -> None:
    cipher = FakeCipher()
    previous = seal_integration(integration(auth={"type": "bearer", "token": "t-1"}), "acme", cipher)

    again = seal_integration(
        integration(headers={"X-Key": MASK}, auth={"type": "bearer", "token": MASK}), "acme", cipher, previous
    )

    assert again["headers"]["X-Key"] == previous["headers"]["X-Key"]
    assert again["auth"]["token"] == previous["auth"]["token"]


def test_the_mask_for_a_place_that_held_no_secret_is_refused() -> None:
    cipher = FakeCipher()
    previous = seal_integration(integration(), "acme", cipher)

    with pytest.raises(ValidationError, match="mask"):
        seal_integration(integration(headers={"X-Other": MASK}), "acme", cipher, previous)
    with pytest.raises(ValidationError, match="mask"):
        seal_integration(integration(auth={"type": "bearer", "token": MASK}), "acme", cipher, previous)
    with pytest.raises(ValidationError, match="mask"):
        seal_integration(integration(headers={"X-Key": MASK}), "acme", cipher, None)


def test_an_already_sealed_value_or_a_non_string_secret_is_refused() -> None:
    ciphertext = {SECRET_KEY: {"key_id": "key-globex", "ciphertext": "x"}}

    with pytest.raises(ValidationError, match="plain text"):
        seal_integration(integration(headers={"X-Key": ciphertext}), "acme", FakeCipher())
    with pytest.raises(ValidationError, match="string"):
        seal_integration(integration(headers={"X-Key": 42}), "acme", FakeCipher())


def test_masking_replaces_every_sealed_secret_wherever_it_is_and_nothing_else() -> None:
    sealed = seal_integration(integration(auth={"type": "bearer", "token": "t-1"}), "acme", FakeCipher())
    document = {"name": "search", "integration": sealed, "history": [{"state": {"integration": sealed}}]}

    masked = mask_secrets(document)

    assert masked["integration"]["headers"] == {"X-Key": MASK}
    assert masked["integration"]["auth"] == {"type": "bearer", "token": MASK}
    assert masked["history"][0]["state"]["integration"]["auth"]["token"] == MASK
    assert masked["name"] == "search"
    assert masked["integration"]["url"] == "https://api.example.com/x"


def test_unsealing_restores_the_plaintext_for_connecting() -> None:
    cipher = FakeCipher()
    plain = integration(auth={"type": "bearer", "token": "t-1"})

    assert unseal(seal_integration(plain, "acme", cipher), "acme", cipher) == plain
