"""The master key ring in the data directory: the active key wraps new data keys, retired keys still open old wraps.

``master.key`` holds the active key; ``master-<key id>.key`` files hold retired ones until they are
removed. A wrapped data key is ``<key id>:<base64 AES-256-GCM>``; one without a prefix was wrapped before
rotation existed, by the instance's first master key. Rotation writes the retired copy first, then
replaces ``master.key`` atomically (``os.replace``), so at every moment of a crash each key that wraps
something is in a file. Every process sharing the directory notices a new ``master.key`` by its file
status before it wraps a key, and reloads the ring when a wrap names a key it does not have.

An operator may give the master key instead (``LEDGERGATE_MASTER_KEY[_FILE]``): it is then the active key,
``master.key`` is neither read nor written, and retired keys come from the directory's files and from
``LEDGERGATE_MASTER_KEYS_RETIRED[_FILE]``. Such a ring makes no key: the operator rotates by giving the new
key as the master key and the old one as retired (to every process), and ``rotate`` then only names the
keys whose wraps are to be re-wrapped under the given one. A retired key that is a setting is not removed
from here; ``remove`` says so, and the operator drops it from the setting.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import threading
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["GivenMasterKeyError", "MasterKeyRing", "UnknownMasterKeyError", "master_key_id"]

ACTIVE = "master.key"
_NONCE = 12


class UnknownMasterKeyError(Exception):
    """A wrap names a master key the data directory does not hold (removed too early, or another instance's)."""


def master_key_id(key: bytes) -> str:
    return "mk-" + hashlib.sha256(b"master-key-id:" + key).hexdigest()[:12]


def _read(path: Path) -> bytes:
    return base64.b64decode(path.read_text().strip())


def _write_new(path: Path, key: bytes) -> None:
    """Write ``key`` to a new file (mode 0600), flushed to disk before it is used."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(base64.b64encode(key).decode() + "\n")
        handle.flush()
        os.fsync(handle.fileno())


class GivenMasterKeyError(Exception):
    """The master key is the operator's (a setting), so this process cannot replace it."""


class MasterKeyRing:
    def __init__(self, data_dir: Path, given: bytes | None = None, given_retired: tuple[bytes, ...] = ()) -> None:
        self.dir = data_dir
        self.given = given
        self.given_retired = given_retired
        self._lock = threading.Lock()
        self._keys: dict[str, bytes] = {}
        self._active_id = ""
        self._stat: tuple[int, int] | None = None
        self.reload()

    def _active_stat(self) -> tuple[int, int]:
        if self.given is not None:
            return (0, 0)
        status = (self.dir / ACTIVE).stat()
        return status.st_ino, status.st_mtime_ns

    def reload(self) -> None:
        with self._lock:
            keys = {}
            for path in sorted(self.dir.glob("master-mk-*.key")):
                key = _read(path)
                keys[master_key_id(key)] = key
            for key in self.given_retired:
                keys[master_key_id(key)] = key
            stat = self._active_stat()
            active = self.given if self.given is not None else _read(self.dir / ACTIVE)
            self._active_id = master_key_id(active)
            keys[self._active_id] = active
            self._keys, self._stat = keys, stat

    def _fresh(self) -> None:
        if self._active_stat() != self._stat:
            self.reload()

    @property
    def active_id(self) -> str:
        self._fresh()
        return self._active_id

    def key_ids(self) -> list[str]:
        self._fresh()
        return sorted(self._keys)

    def retired_ids(self) -> list[str]:
        return [key_id for key_id in self.key_ids() if key_id != self._active_id]

    def wrap(self, plaintext: bytes, aad: bytes) -> str:
        self._fresh()
        key_id, key = self._active_id, self._keys[self._active_id]
        nonce = secrets.token_bytes(_NONCE)
        return f"{key_id}:" + base64.b64encode(nonce + AESGCM(key).encrypt(nonce, plaintext, aad)).decode()

    def wrapped_by(self, wrapped: str) -> str | None:
        """The id of the master key a wrap names (None: a wrap from before rotation)."""
        key_id, sep, _ = wrapped.partition(":")
        return key_id if sep else None

    def unwrap(self, wrapped: str, aad: bytes) -> bytes:
        """Raises: UnknownMasterKeyError, InvalidTag (the wrap was altered)."""
        key_id = self.wrapped_by(wrapped)
        body = wrapped.partition(":")[2] if key_id else wrapped
        raw = base64.b64decode(body)
        if key_id is None:
            for key in list(self._keys.values()):
                try:
                    return AESGCM(key).decrypt(raw[:_NONCE], raw[_NONCE:], aad)
                except InvalidTag:
                    continue
            raise InvalidTag
        if key_id not in self._keys:
            self.reload()
        if key_id not in self._keys:
            raise UnknownMasterKeyError(f"master key {key_id} is not in the data directory")
        return AESGCM(self._keys[key_id]).decrypt(raw[:_NONCE], raw[_NONCE:], aad)

    @property
    def operator_given(self) -> bool:
        return self.given is not None

    def rotate(self) -> tuple[str, str]:
        """Make a new active key; the old one is kept as a retired file. Returns (old id, new id). With a given
        master key nothing is made: returns (the retired keys' ids, the given key's id) for re-wrapping.
        Raises: GivenMasterKeyError when the master key is given and no earlier key is."""
        self.reload()
        if self.given is not None:
            if not self.retired_ids():
                raise GivenMasterKeyError("the master key is given and no retired master key is")
            return ", ".join(self.retired_ids()), self._active_id
        old_id, old = self._active_id, self._keys[self._active_id]
        retired = self.dir / f"master-{old_id}.key"
        if not retired.exists():
            _write_new(retired, old)
        new = secrets.token_bytes(32)
        staged = self.dir / f"master.key.{secrets.token_hex(4)}.new"
        _write_new(staged, new)
        os.replace(staged, self.dir / ACTIVE)
        directory = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        self.reload()
        return old_id, self._active_id

    def remove(self, key_id: str) -> bool:
        """Delete a retired key's file (the caller checked nothing is wrapped by it any more). Returns False
        for a key that is a setting (``LEDGERGATE_MASTER_KEYS_RETIRED``): the operator removes it there."""
        if key_id == self.active_id:
            raise ValueError("the active master key cannot be removed")
        (self.dir / f"master-{key_id}.key").unlink(missing_ok=True)
        self.reload()
        return key_id not in self._keys
