"""UI sessions: a signed cookie naming the token it was opened with, and its CSRF token.

The cookie holds no secret of the token, only who signed in (token id, subject, tenant, role), a random
session id and an expiry, with an HMAC made from the instance's signing key: every worker of the
instance accepts it without shared state, and nothing in it can be changed without the key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Protocol

import msgspec

__all__ = ["COOKIE", "SESSION_LIFETIME_S", "SessionSigner", "SharedSignOuts", "SignedOut", "UiSession"]

COOKIE = "ledgergate_admin"
SESSION_LIFETIME_S = 8 * 3600
_LABEL = b"ledgergate admin ui session v1"


@dataclass(frozen=True)
class UiSession:
    sid: str
    token_id: str
    subject: str
    tenant_id: str
    role: str
    expires_at: float


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionSigner:
    """Signs and checks session cookies, and derives each session's CSRF token, with one derived key."""

    def __init__(self, instance_key: bytes) -> None:
        self._key = hmac.new(instance_key, _LABEL, hashlib.sha256).digest()

    def _mac(self, purpose: bytes, payload: bytes) -> str:
        return _b64(hmac.new(self._key, purpose + b"|" + payload, hashlib.sha256).digest())

    def open(self, token_id: str, subject: str, tenant_id: str, role: str, token_expires_at: float | None) -> UiSession:
        """A new session, never outliving the token it was opened with."""
        expires = time.time() + SESSION_LIFETIME_S
        if token_expires_at is not None:
            expires = min(expires, token_expires_at)
        return UiSession(secrets.token_urlsafe(18), token_id, subject, tenant_id, role, expires)

    def sign(self, session: UiSession) -> str:
        payload = msgspec.json.encode(
            [session.sid, session.token_id, session.subject, session.tenant_id, session.role, session.expires_at]
        )
        return _b64(payload) + "." + self._mac(b"session", payload)

    def verify(self, cookie: str | None, now: float | None = None) -> UiSession | None:
        """The session in ``cookie``, or None when it is missing, altered or expired."""
        if not cookie or cookie.count(".") != 1:
            return None
        body, mac = cookie.split(".")
        try:
            payload = _unb64(body)
            if not hmac.compare_digest(self._mac(b"session", payload), mac):
                return None
            sid, token_id, subject, tenant_id, role, expires_at = msgspec.json.decode(payload)
            session = UiSession(str(sid), str(token_id), str(subject), str(tenant_id), str(role), float(expires_at))
        except (ValueError, TypeError, msgspec.DecodeError):
            return None
        return session if session.expires_at > (now if now is not None else time.time()) else None

    def seal(self, purpose: bytes, payload: bytes) -> str:
        """``payload`` signed for ``purpose`` (a value the UI hands the browser and takes back unaltered)."""
        return _b64(payload) + "." + self._mac(purpose, payload)

    def unseal(self, purpose: bytes, sealed: str | None) -> bytes | None:
        """The payload ``seal`` signed for ``purpose``, or None when it is missing or altered."""
        if not sealed or sealed.count(".") != 1:
            return None
        body, mac = sealed.split(".")
        try:
            payload = _unb64(body)
        except ValueError:
            return None
        return payload if hmac.compare_digest(self._mac(purpose, payload), mac) else None

    def csrf_token(self, session: UiSession) -> str:
        return self._mac(b"csrf", session.sid.encode())

    def csrf_ok(self, session: UiSession, presented: str | None) -> bool:
        return bool(presented) and hmac.compare_digest(self.csrf_token(session), str(presented))


class SharedSignOuts(Protocol):
    """Where sign-outs are shared between workers (Redis when the instance has it)."""

    def end(self, sid: str, expires_at: float) -> None: ...

    def ended(self, sid: str) -> bool: ...


class SignedOut:
    """Sessions ended by signing out, kept until they would have expired anyway: in this process, and in
    ``shared`` (every worker's) when the instance runs with Redis."""

    def __init__(self, shared: SharedSignOuts | None = None) -> None:
        self._ended: dict[str, float] = {}
        self._lock = threading.Lock()
        self.shared = shared

    def end(self, session: UiSession) -> None:
        """Raises: StoreUnavailableError when the shared record can't be written (this process refuses it)."""
        now = time.time()
        with self._lock:
            self._ended = {sid: exp for sid, exp in self._ended.items() if exp > now}
            self._ended[session.sid] = session.expires_at
        if self.shared is not None:
            self.shared.end(session.sid, session.expires_at)

    def ended(self, session: UiSession) -> bool:
        if session.sid in self._ended:
            return True
        return self.shared is not None and self.shared.ended(session.sid)
