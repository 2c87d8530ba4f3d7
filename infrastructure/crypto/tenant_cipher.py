"""Envelope encryption: per-tenant data keys (AES-256-GCM) wrapped by the instance master key ring.

The data keys live outside the event log: the active one in ``tenant_keys``, earlier generations (after
``rotate-tenant``) in ``tenant_retired_keys``. A ciphertext names its key id, so each generation opens
its own. Deleting a tenant's rows of both tables crypto-shreds every secret of that tenant wherever its
events are copied. Rotating the master key re-wraps these rows, one compare-and-set update each, and no
secret is re-encrypted (``infrastructure/crypto/master_keys.py``).
"""

from __future__ import annotations

import base64
import secrets
import threading
import time
from datetime import UTC, datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ledgergate.application.errors import StoreUnavailableError
from ledgergate.infrastructure.crypto.master_keys import MasterKeyRing, UnknownMasterKeyError, master_key_id
from ledgergate.infrastructure.sql.connector import SqlConnector

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


class _OneKeyRing:
    """A ring of one fixed master key (tests and tools that hold a key, not a data directory)."""

    def __init__(self, key: bytes) -> None:
        self.key, self.active_id = key, master_key_id(key)

    def wrap(self, plaintext: bytes, aad: bytes) -> str:
        return f"{self.active_id}:" + _seal(self.key, plaintext, aad)

    def wrapped_by(self, wrapped: str) -> str | None:
        key_id, sep, _ = wrapped.partition(":")
        return key_id if sep else None

    def unwrap(self, wrapped: str, aad: bytes) -> bytes:
        raw = base64.b64decode(wrapped.partition(":")[2] if self.wrapped_by(wrapped) else wrapped)
        return AESGCM(self.key).decrypt(raw[:_NONCE], raw[_NONCE:], aad)


def _aad(tenant_id: str, key_id: str) -> bytes:
    return f"tenant-key:{tenant_id}:{key_id}".encode()


_TABLES = ("tenant_keys", "tenant_retired_keys")


class TenantCipher:
    def __init__(self, connector: SqlConnector, master: MasterKeyRing | bytes) -> None:
        self.connector = connector
        self.ring: MasterKeyRing | _OneKeyRing = _OneKeyRing(master) if isinstance(master, bytes) else master
        self._keys: dict[str, tuple[str, bytes, float]] = {}  # tenant -> its active key
        self._generations: dict[tuple[str, str], tuple[bytes, float]] = {}  # (tenant, key id) -> key
        self._lock = threading.Lock()

    def _unwrap(self, tenant_id: str, key_id: str, wrapped: str) -> bytes:
        try:
            return self.ring.unwrap(wrapped, _aad(tenant_id, key_id))
        except (InvalidTag, UnknownMasterKeyError) as exc:
            raise SecretUnavailableError(f"data key {key_id} of tenant {tenant_id} does not open: {exc}") from None

    def ensure_tenant_key(self, tenant_id: str) -> None:
        self._data_key(tenant_id)

    def shred(self, tenant_id: str) -> None:
        """Destroy every generation of the tenant's data keys: its secrets become unreadable everywhere,
        exports included. Other processes drop their cached copies within ``CACHE_S``. The key ids are
        remembered, so a copy of a key brought back by an import is refused."""
        with self.connector.transaction() as cur:
            destroyed = cur.execute("SELECT key_id FROM tenant_keys WHERE tenant_id = ?", (tenant_id,))
            destroyed += cur.execute("SELECT key_id FROM tenant_retired_keys WHERE tenant_id = ?", (tenant_id,))
            cur.executemany(
                "INSERT INTO shredded_keys (key_id, tenant_id, shredded_at) VALUES (?, ?, ?) "
                "ON CONFLICT (key_id) DO NOTHING",
                [(key_id, tenant_id, datetime.now(UTC).isoformat()) for (key_id,) in destroyed],
            )
            cur.execute("DELETE FROM tenant_keys WHERE tenant_id = ?", (tenant_id,))
            cur.execute("DELETE FROM tenant_retired_keys WHERE tenant_id = ?", (tenant_id,))
        with self._lock:
            self._keys.pop(tenant_id, None)
            for pair in [pair for pair in self._generations if pair[0] == tenant_id]:
                del self._generations[pair]

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
            wrapped = self.ring.wrap(key, _aad(tenant_id, key_id))
            with self.connector.transaction() as cur:
                cur.execute(
                    "INSERT INTO tenant_keys (tenant_id, key_id, wrapped_key, created_at) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (tenant_id) DO NOTHING",
                    (tenant_id, key_id, wrapped, datetime.now(UTC).isoformat()),
                )
                rows = cur.execute("SELECT key_id, wrapped_key FROM tenant_keys WHERE tenant_id = ?", (tenant_id,))
        key_id, wrapped = rows[0]
        key = self._unwrap(tenant_id, key_id, wrapped)
        with self._lock:
            self._keys[tenant_id] = (key_id, key, time.monotonic())
        return key_id, key

    def _generation(self, tenant_id: str, key_id: str) -> bytes:
        """The tenant's data key ``key_id``, active or retired. Raises: SecretUnavailableError."""
        active_id, active = self._data_key(tenant_id, create=False)
        if key_id == active_id:
            return active
        with self._lock:
            cached = self._generations.get((tenant_id, key_id))
        if cached is not None and time.monotonic() - cached[1] < CACHE_S:
            return cached[0]
        with self.connector.read() as cur:
            rows = cur.execute(
                "SELECT wrapped_key FROM tenant_keys WHERE tenant_id = ? AND key_id = ? UNION ALL "
                "SELECT wrapped_key FROM tenant_retired_keys WHERE tenant_id = ? AND key_id = ?",
                (tenant_id, key_id, tenant_id, key_id),
            )
        if not rows:
            raise SecretUnavailableError(f"data key {key_id} of tenant {tenant_id} is not available")
        key = self._unwrap(tenant_id, key_id, rows[0][0])
        with self._lock:
            self._generations[(tenant_id, key_id)] = (key, time.monotonic())
        return key

    def active_key_id(self, tenant_id: str) -> str | None:
        with self.connector.read() as cur:
            rows = cur.execute("SELECT key_id FROM tenant_keys WHERE tenant_id = ?", (tenant_id,))
        return str(rows[0][0]) if rows else None

    def rotate_tenant(self, tenant_id: str) -> tuple[str | None, str]:
        """A new data key for the tenant, the current one kept as a retired generation (one transaction).
        Returns (old key id, new key id)."""
        key_id, key = f"dk-{secrets.token_hex(8)}", secrets.token_bytes(32)
        now = datetime.now(UTC).isoformat()
        with self.connector.transaction() as cur:
            current = cur.execute(
                "SELECT key_id, wrapped_key, created_at FROM tenant_keys WHERE tenant_id = ?", (tenant_id,)
            )
            if current:
                old_id, wrapped, created = current[0]
                cur.execute(
                    "INSERT INTO tenant_retired_keys (key_id, tenant_id, wrapped_key, created_at, retired_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (old_id, tenant_id, wrapped, created, now),
                )
                cur.execute("DELETE FROM tenant_keys WHERE tenant_id = ?", (tenant_id,))
            cur.execute(
                "INSERT INTO tenant_keys (tenant_id, key_id, wrapped_key, created_at) VALUES (?, ?, ?, ?)",
                (tenant_id, key_id, self.ring.wrap(key, _aad(tenant_id, key_id)), now),
            )
        with self._lock:
            self._keys.pop(tenant_id, None)
        return (str(current[0][0]) if current else None), key_id

    def wrapped_rows(self) -> list[tuple[str, str, str, str]]:
        """(table, tenant, key id, wrapped key) of every data key of every generation."""
        found: list[tuple[str, str, str, str]] = []
        with self.connector.read() as cur:
            for table in _TABLES:
                rows = cur.execute(f"SELECT tenant_id, key_id, wrapped_key FROM {table} ORDER BY tenant_id")  # noqa: S608
                found += [(table, str(t), str(k), str(w)) for t, k, w in rows]
        return found

    def rewrap(self, row: tuple[str, str, str, str]) -> bool:
        """Re-wrap one data key under the active master key; the update applies only if the row is unchanged
        (compare and set), so a concurrent rotation or shred wins. Returns whether it was re-wrapped."""
        table, tenant_id, key_id, wrapped = row
        if self.ring.wrapped_by(wrapped) == self.ring.active_id:
            return False
        key = self._unwrap(tenant_id, key_id, wrapped)
        with self.connector.transaction() as cur:
            cur.execute(
                f"UPDATE {table} SET wrapped_key = ? WHERE tenant_id = ? AND key_id = ? AND wrapped_key = ?",  # noqa: S608
                (self.ring.wrap(key, _aad(tenant_id, key_id)), tenant_id, key_id, wrapped),
            )
        return True

    def stored_key(self, tenant_id: str) -> tuple[str, bytes] | None:
        """The tenant's data key as the table holds it now (not the cached copy), or None when it has none."""
        with self.connector.read() as cur:
            rows = cur.execute("SELECT key_id, wrapped_key FROM tenant_keys WHERE tenant_id = ?", (tenant_id,))
        if not rows:
            return None
        key_id, wrapped = rows[0]
        return key_id, self._unwrap(tenant_id, key_id, wrapped)

    def was_shredded(self, key_id: str) -> bool:
        with self.connector.read() as cur:
            return bool(cur.execute("SELECT 1 FROM shredded_keys WHERE key_id = ?", (key_id,)))

    def install_key(self, tenant_id: str, key_id: str, key: bytes) -> bool:
        """Store a data key brought from another instance, wrapped with this instance's master key.
        Returns False (and changes nothing) when the tenant already has a key."""
        wrapped = self.ring.wrap(key, _aad(tenant_id, key_id))
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
        key_id = str(sealed.get("key_id"))
        key = self._generation(tenant_id, key_id)
        return _open(key, sealed["ciphertext"], f"{tenant_id}:{key_id}".encode()).decode()
