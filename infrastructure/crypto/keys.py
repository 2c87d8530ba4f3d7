"""Instance keys: the JWT signing key, the master key (ring, ``infrastructure/crypto/master_keys.py``) and
the Ed25519 export/checkpoint signing key (``infrastructure/crypto/signing.py``).

By default kept in the data directory, generated on first start (32 random bytes each, file mode 0600,
created with O_EXCL so two processes starting at once agree on one key), never placeholders. An operator
may give either key instead (``LEDGERGATE_JWT_SIGNING_KEY[_FILE]``, ``LEDGERGATE_MASTER_KEY[_FILE]``: a
mounted secret or the environment), so replicas that share no volume share their keys; a given key is
used as it is and nothing is written for it.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ledgergate.infrastructure.settings import Settings

__all__ = ["InstanceKeys", "load_or_create_key"]


def load_or_create_key(path: Path) -> tuple[bytes, bool]:
    """Return the key stored at ``path`` and whether this call created it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):
            text = path.read_text().strip()
            if text:
                return base64.b64decode(text), False
            time.sleep(0.02)
        raise RuntimeError(f"key file {path} is empty") from None
    key = secrets.token_bytes(32)
    with os.fdopen(fd, "w") as handle:
        handle.write(base64.b64encode(key).decode() + "\n")
    return key, True


class InstanceKeys:
    def __init__(self, data_dir: Path, jwt_key: bytes | None = None, master_key: bytes | None = None) -> None:
        created_jwt = created_master = False
        if jwt_key is None:
            jwt_key, created_jwt = load_or_create_key(data_dir / "jwt-signing.key")
        if master_key is None:
            master_key, created_master = load_or_create_key(data_dir / "master.key")
        self.jwt_key = jwt_key
        self.master_key = master_key
        self.created = created_jwt or created_master
        self.data_dir = data_dir

    @classmethod
    def of(cls, settings: Settings) -> InstanceKeys:
        """The keys the settings give, and the data directory's for those they do not."""
        return cls(settings.data_dir, settings.jwt_signing_key, settings.master_key)

    def instance_id(self) -> str:
        """A stable name of this instance for export headers and checkpoints, revealing nothing of its keys.
        Derived once from the first master key and kept in ``instance-id``, so rotating the key keeps it."""
        path = self.data_dir / "instance-id"
        if not path.exists():
            derived = "lg-" + hashlib.sha256(b"instance-id:" + self.master_key).hexdigest()[:16]
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                pass
            else:
                with os.fdopen(fd, "w") as handle:
                    handle.write(derived + "\n")
                return derived
        for _ in range(50):
            text = path.read_text().strip()
            if text:
                return text
            time.sleep(0.02)
        raise RuntimeError(f"{path} is empty")
