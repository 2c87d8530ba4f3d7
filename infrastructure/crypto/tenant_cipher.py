"""Envelope encryption: per-tenant data keys (AES-256-GCM) wrapped by the instance master key.

The data keys live in the ``tenant_keys`` table, outside the event log: deleting a tenant's row
crypto-shreds every secret of that tenant wherever its events are copied.
"""

from __future__ import annotations

import base64
import secrets
import threading
import time
from datetime import UTC, datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from application.errors import StoreUnavailableError
from infrastructure.sql.connector import SqlConnector

__all__ = ["SecretUnavailableError", "TenantCipher"]

_NONCE = 12
#: How long a process trusts its cached copy of a data key (bounds how late a shred reaches it).
CACHE_S = 30.0


class SecretUnavailableError(Exception):
    """The data key is gone (shredded) or the ciphertext was altered."""


def _seal(key: bytes, plaintext: bytes, aad: bytes) -> str:
    nonce = secrets.token_bytes(_NONCE)
    return base64.b64encode(nonce + AESGCM(key).encrypt(nonce, plaintext, aad)).decode()


def _open(key: bytes, sealed: str, aad: bytes) -> bytes:
    raw = base64.b64decode(sealed)
    try:
        return AESGCM(key).decrypt(raw[:_NONCE], raw[_NONCE:], aad)
    except InvalidTag:
        raise SecretUnavailableError("ciphertext does not match its key") from None


class TenantCipher:
    def __init__(self, connector: SqlConnector, master_key: bytes) -> None:
        self.connector = connector
        self.master_key = master_key
        self._keys: dict[str, tuple[str, bytes, float]] = {}
        self._lock = threading.Lock()

    def ensure_tenant_key(self, tenant_id: str) -> None:
        self._data_key(tenant_id)

    def shred(self, tenant_id: str) -> None:
        """Destroy the tenant's data key: its secrets become unreadable everywhere, exports included.
        Other processes drop their cached copy within ``CACHE_S``. The key id is remembered, so a copy
        of the key brought back by an import is refused."""
        with self.connector.transaction() as cur:
            destroyed = cur.execute("SELECT key_id FROM tenant_keys WHERE tenant_id = ?", (tenant_id,))
            cur.executemany(
                "INSERT INTO shredded_keys (key_id, tenant_id, shredded_at) VALUES (?, ?, ?) "
                "ON CONFLICT (key_id) DO NOTHING",
                [(key_id, tenant_id, datetime.now(UTC).isoformat()) for (key_id,) in destroyed],
            )
            cur.execute("DELETE FROM tenant_keys WHERE tenant_id = ?", (tenant_id,))
        with self._lock:
            self._keys.pop(tenant_id, None)

    def _data_key(self, tenant_id: str, create: bool = True) -> tuple[str, bytes]:
        with self._lock:
            cached = self._keys.get(tenant_id)
            if cached is not None and time.monotonic() - cached[2] < CACHE_S:
                return cached[0], cached[1]
        try:
            with self.connector.read() as cur:
                rows = cur.execute("SELECT key_id, wrapped_key FROM tenant_keys WHERE tenant_id = ?", (tenant_id,))
        except StoreUnavailableError:
            if cached is None:
                raise
            # The database is down: keep the key we had, so calls with secrets go on being made. No shred can
            # be committed meanwhile; one committed just before reaches this process once the database is back.
            return cached[0], cached[1]
        if not rows and not create:
            with self._lock:
                self._keys.pop(tenant_id, None)
            raise SecretUnavailableError(f"tenant {tenant_id} has no data key (it was shredded)")
        if not rows:
            key_id, key = f"dk-{secrets.token_hex(8)}", secrets.token_bytes(32)
            wrapped = _seal(self.master_key, key, f"tenant-key:{tenant_id}:{key_id}".encode())
            with self.connector.transaction() as cur:
                cur.execute(
                    "INSERT INTO tenant_keys (tenant_id, key_id, wrapped_key, created_at) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (tenant_id) DO NOTHING",
                    (tenant_id, key_id, wrapped, datetime.now(UTC).isoformat()),
                )
                rows = cur.execute("SELECT key_id, wrapped_key FROM tenant_keys WHERE tenant_id = ?", (tenant_id,))
        key_id, wrapped = rows[0]
        key = _open(self.master_key, wrapped, f"tenant-key:{tenant_id}:{key_id}".encode())
        with self._lock:
            self._keys[tenant_id] = (key_id, key, time.monotonic())
        return key_id, key

    def stored_key(self, tenant_id: str) -> tuple[str, bytes] | None:
        """The tenant's data key as the table holds it now (not the cached copy), or None when it has none."""
        with self.connector.read() as cur:
            rows = cur.execute("SELECT key_id, wrapped_key FROM tenant_keys WHERE tenant_id = ?", (tenant_id,))
        if not rows:
            return None
        key_id, wrapped = rows[0]
        return key_id, _open(self.master_key, wrapped, f"tenant-key:{tenant_id}:{key_id}".encode())

    def was_shredded(self, key_id: str) -> bool:
        with self.connector.read() as cur:
            return bool(cur.execute("SELECT 1 FROM shredded_keys WHERE key_id = ?", (key_id,)))

    def install_key(self, tenant_id: str, key_id: str, key: bytes) -> bool:
        """Store a data key brought from another instance, wrapped with this instance's master key.
        Returns False (and changes nothing) when the tenant already has a key."""
        wrapped = _seal(self.master_key, key, f"tenant-key:{tenant_id}:{key_id}".encode())
        with self.connector.transaction() as cur:
            present = cur.execute("SELECT key_id FROM tenant_keys WHERE tenant_id = ?", (tenant_id,))
            if present or cur.execute("SELECT 1 FROM shredded_keys WHERE key_id = ?", (key_id,)):
                return False
            cur.execute(
                "INSERT INTO tenant_keys (tenant_id, key_id, wrapped_key, created_at) VALUES (?, ?, ?, ?)",
                (tenant_id, key_id, wrapped, datetime.now(UTC).isoformat()),
            )
        with self._lock:
            self._keys.pop(tenant_id, None)
        return True

    def encrypt(self, tenant_id: str, plaintext: str) -> dict[str, str]:
        key_id, key = self._data_key(tenant_id)
        return {"key_id": key_id, "ciphertext": _seal(key, plaintext.encode(), f"{tenant_id}:{key_id}".encode())}

    def decrypt(self, tenant_id: str, sealed: dict[str, str]) -> str:
        key_id, key = self._data_key(tenant_id, create=False)
        if sealed.get("key_id") != key_id:
            raise SecretUnavailableError(f"data key {sealed.get('key_id')} of tenant {tenant_id} is not available")
        return _open(key, sealed["ciphertext"], f"{tenant_id}:{key_id}".encode()).decode()
