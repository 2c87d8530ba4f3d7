"""Moving a tenant's data key between instances: wrapped with a key derived from a passphrase.

scrypt (n=2**15, r=8, p=1, a random 16-byte salt) derives a 256-bit key from the passphrase; AES-256-GCM
seals the data key with the tenant and key id as associated data, so a wrapped key moved to another
tenant's slot, or altered, does not open.
"""

from __future__ import annotations

import base64
import secrets
from typing import Any, Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from ledgergate.application.archive_keys import DataKey, KeyTransportError
from ledgergate.infrastructure.crypto.tenant_cipher import SecretUnavailableError, TenantCipher

__all__ = ["PassphraseKeyTransport"]

SCRYPT = {"n": 2**15, "r": 8, "p": 1}
#: Bounds on the parameters read from a file, so a crafted file cannot make scrypt take minutes or gigabytes.
MAX_SCRYPT_N, MAX_SCRYPT_R, MAX_SCRYPT_P = 2**20, 16, 4
ALGORITHM = "scrypt+AES-256-GCM"


def _derive(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode())


def _aad(tenant_id: str, key_id: str) -> bytes:
    return f"ledgergate-export-key:{tenant_id}:{key_id}".encode()


def wrap_key(key: DataKey, passphrase: str) -> dict[str, Any]:
    if not passphrase:
        raise KeyTransportError("the passphrase is empty")
    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    sealed = AESGCM(_derive(passphrase, salt, **SCRYPT)).encrypt(nonce, key.key, _aad(key.tenant_id, key.key_id))
    return {
        "algorithm": ALGORITHM,
        "key_id": key.key_id,
        "kdf": {**SCRYPT, "salt": base64.b64encode(salt).decode()},
        "nonce": base64.b64encode(nonce).decode(),
        "ciphertext": base64.b64encode(sealed).decode(),
    }


def unwrap_key(tenant_id: str, wrapped: dict[str, Any], passphrase: str) -> DataKey:
    try:
        if wrapped["algorithm"] != ALGORITHM:
            raise KeyTransportError(f"tenant {tenant_id}: unknown key wrapping {wrapped['algorithm']!r}")
        kdf = wrapped["kdf"]
        n, r, p = int(kdf["n"]), int(kdf["r"]), int(kdf["p"])
        salt = base64.b64decode(kdf["salt"], validate=True)
        nonce = base64.b64decode(wrapped["nonce"], validate=True)
        sealed = base64.b64decode(wrapped["ciphertext"], validate=True)
        key_id = str(wrapped["key_id"])
    except (KeyError, TypeError, ValueError):
        raise KeyTransportError(f"tenant {tenant_id}: the wrapped key is malformed") from None
    if not (1 < n <= MAX_SCRYPT_N and n & (n - 1) == 0 and 0 < r <= MAX_SCRYPT_R and 0 < p <= MAX_SCRYPT_P):
        raise KeyTransportError(f"tenant {tenant_id}: the key's scrypt parameters are out of bounds")
    try:
        key = AESGCM(_derive(passphrase, salt, n, r, p)).decrypt(nonce, sealed, _aad(tenant_id, key_id))
    except (InvalidTag, ValueError):
        raise KeyTransportError(
            f"tenant {tenant_id}: wrong passphrase (or the wrapped key was altered); nothing was imported"
        ) from None
    return DataKey(tenant_id, key_id, key)


class PassphraseKeyTransport:
    """The ``KeyTransport`` port over the instance's tenant keys."""

    def __init__(self, cipher: TenantCipher) -> None:
        self.cipher = cipher

    def wrap(self, tenant_id: str, passphrase: str) -> dict[str, Any]:
        try:
            stored = self.cipher.stored_key(tenant_id)
        except SecretUnavailableError:
            stored = None
        if stored is None:
            raise KeyTransportError(f"tenant {tenant_id} has no data key (it was shredded): it cannot be exported")
        return wrap_key(DataKey(tenant_id, *stored), passphrase)

    def unwrap(self, tenant_id: str, wrapped: dict[str, Any], passphrase: str) -> DataKey:
        if not isinstance(wrapped, dict):
            raise KeyTransportError(f"tenant {tenant_id}: the wrapped key is malformed")
        return unwrap_key(tenant_id, wrapped, passphrase)

    def compare(self, key: DataKey) -> Literal["absent", "same", "different", "shredded"]:
        if self.cipher.was_shredded(key.key_id):
            return "shredded"
        stored = self.cipher.stored_key(key.tenant_id)
        if stored is None:
            return "absent"
        return "same" if stored == (key.key_id, key.key) else "different"

    def install(self, key: DataKey) -> None:
        if not self.cipher.install_key(key.tenant_id, key.key_id, key.key) and self.compare(key) != "same":
            raise KeyTransportError(f"tenant {key.tenant_id} got a different data key meanwhile")

    def has_key(self, tenant_id: str) -> bool:
        try:
            return self.cipher.stored_key(tenant_id) is not None
        except SecretUnavailableError:
            return True  # a key is there, wrapped by another master key: not ours to judge here
