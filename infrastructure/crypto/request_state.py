"""Seals the gateway's own ``requestState`` (2026-07-28 ``input_required``) and task ids with AES-GCM.

The key is derived (HKDF-SHA256) from the instance's master key, so every worker of an instance opens what
another sealed. The binding (tenant, token, call) is the associated data: a state moved to another caller
or call fails authentication like a tampered one. Task ids (:class:`TaskIdSealer`) have a key and prefix
of their own, so neither kind of token ever opens as the other.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["RequestStateSealer", "TaskIdSealer"]

INFO = b"ledgergate requestState v1"


class RequestStateSealer:
    PREFIX = "lg1."
    INFO = INFO

    def __init__(self, master_key: bytes) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=self.INFO).derive(master_key)
        self._aead = AESGCM(key)

    def seal(self, claims: dict[str, Any], context: bytes) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, json.dumps(claims, separators=(",", ":")).encode(), context)
        return self.PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")

    def open(self, sealed: str, context: bytes) -> dict[str, Any] | None:
        if not sealed.startswith(self.PREFIX):
            return None
        body = sealed[len(self.PREFIX) :]
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            claims = json.loads(self._aead.decrypt(raw[:12], raw[12:], context))
        except (binascii.Error, ValueError, InvalidTag):
            return None
        return claims if isinstance(claims, dict) else None


class TaskIdSealer(RequestStateSealer):
    """The task ids the gateway gives clients for their upstreams' tasks (2025-11-25)."""

    PREFIX = "lgt1."
    INFO = b"ledgergate taskId v1"
