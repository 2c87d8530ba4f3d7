"""The instance's Ed25519 signing key: signs export trailers and log checkpoints.

The private key is 32 random bytes in ``signing-ed25519.key`` next to the other keys (mode 0600, created
with O_EXCL on first start, like them). The public key is written as ``ed25519:<base64 of the 32 raw
bytes>``; its id is ``sk-`` and the first 16 hex digits of its SHA-256. A trusted-keys file holds one
public key a line (``#`` starts a comment; a name after the key is allowed).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ledgergate.infrastructure.crypto.keys import load_or_create_key

__all__ = [
    "PublicKeyError",
    "SigningKey",
    "key_id_of",
    "parse_public_key",
    "read_trusted_keys",
    "verify_signature",
]

PREFIX = "ed25519:"
KEY_FILE = "signing-ed25519.key"


class PublicKeyError(ValueError):
    """Not a public key in the ``ed25519:<base64>`` form."""


def key_id_of(public_key: str) -> str:
    return "sk-" + hashlib.sha256(public_key.encode()).hexdigest()[:16]


def parse_public_key(text: str) -> str:
    """The key in canonical form. Raises: PublicKeyError."""
    text = text.strip()
    if not text.startswith(PREFIX):
        raise PublicKeyError(f"a public key starts with {PREFIX!r}: {text[:40]!r}")
    try:
        raw = base64.b64decode(text[len(PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise PublicKeyError("the public key is not base64") from None
    if len(raw) != 32:
        raise PublicKeyError("an Ed25519 public key has 32 bytes")
    return PREFIX + base64.b64encode(raw).decode()


def read_trusted_keys(path: Path) -> dict[str, str]:
    """Trusted public keys by key id. Raises: PublicKeyError, OSError."""
    keys: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            key = parse_public_key(text.split()[0])
        except PublicKeyError as exc:
            raise PublicKeyError(f"{path} line {number}: {exc}") from None
        keys[key_id_of(key)] = key
    return keys


def verify_signature(public_key: str, data: bytes, signature: str) -> bool:
    try:
        raw = base64.b64decode(parse_public_key(public_key)[len(PREFIX) :])
        Ed25519PublicKey.from_public_bytes(raw).verify(base64.b64decode(signature, validate=True), data)
    except (InvalidSignature, PublicKeyError, binascii.Error, ValueError, TypeError):
        return False
    return True


class SigningKey:
    def __init__(self, data_dir: Path, given: bytes | None = None) -> None:
        """The data directory's key (generated on first start), or ``given`` (the operator's, 32 bytes)."""
        if given is not None:
            raw, self.created = given, False
        else:
            raw, self.created = load_or_create_key(data_dir / KEY_FILE)
        self._private = Ed25519PrivateKey.from_private_bytes(raw)
        public = self._private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.public_key = PREFIX + base64.b64encode(public).decode()
        self.key_id = key_id_of(self.public_key)

    def sign(self, data: bytes) -> str:
        return base64.b64encode(self._private.sign(data)).decode()

    def verify(self, data: bytes, signature: str) -> bool:
        return verify_signature(self.public_key, data, signature)
