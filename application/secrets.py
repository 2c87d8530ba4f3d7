"""Sealing secrets of a tool's integration before they enter an event, and masking them on reads.

Secret places: every header value, and the secret field of ``auth`` (bearer ``token``, basic
``password``, header ``value``). A client that sends back the mask for a place keeps the sealed value
it already had there, so a read-modify-write round trip through the API never loses a secret.
"""

from __future__ import annotations

import copy
from typing import Any

from ledgergate.application.errors import ValidationError
from ledgergate.application.ports import SecretCipher
from ledgergate.domain.values import SECRET_KEY, is_secret_ref

__all__ = ["MASK", "mask_secrets", "seal_integration", "seal_upstream", "unseal"]

MASK = "********"
AUTH_SECRET_FIELD = {"bearer": "token", "basic": "password", "header": "value"}


def _secret_places(integration: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    places: list[tuple[dict[str, Any], str]] = []
    headers = integration.get("headers")
    if isinstance(headers, dict):
        places.extend((headers, name) for name in headers)
    auth = integration.get("auth")
    if isinstance(auth, dict):
        secret_field = AUTH_SECRET_FIELD.get(auth.get("type", ""))
        if secret_field and secret_field in auth:
            places.append((auth, secret_field))
    return places


def _previous_value(previous: dict[str, Any] | None, container_key: str, name: str) -> Any:
    if previous is None:
        return None
    container = previous.get(container_key)
    return container.get(name) if isinstance(container, dict) else None


def seal_integration(
    integration: Any, tenant_id: str, cipher: SecretCipher, previous: dict[str, Any] | None = None
) -> Any:
    """Encrypt every plaintext secret of ``integration``; the mask keeps ``previous``'s sealed value."""
    if not isinstance(integration, dict):
        return integration
    sealed = copy.deepcopy(integration)
    for container, name in _secret_places(sealed):
        value = container[name]
        container_key = "headers" if container is sealed.get("headers") else "auth"
        if value == MASK:
            kept = _previous_value(previous, container_key, name)
            if not is_secret_ref(kept):
                raise ValidationError(
                    f"integration.{container_key}.{name}: the mask can only stand for a stored secret"
                )
            container[name] = kept
        elif isinstance(value, str):
            container[name] = {SECRET_KEY: cipher.encrypt(tenant_id, value)}
        elif not is_secret_ref(value):
            raise ValidationError(f"integration.{container_key}.{name}: must be a string")
        else:
            raise ValidationError(f"integration.{container_key}.{name}: give the secret as plain text")
    return sealed


def mask_secrets(value: Any) -> Any:
    """Replace every sealed secret anywhere in ``value`` with the mask."""
    # Scalars are returned without a call: point-in-time catalogs mask tens of thousands of documents.
    if isinstance(value, dict):
        if len(value) == 1 and is_secret_ref(value):
            return MASK
        return {k: mask_secrets(v) if isinstance(v, dict | list) else v for k, v in value.items()}
    if isinstance(value, list):
        return [mask_secrets(v) if isinstance(v, dict | list) else v for v in value]
    return value


def _seal_value(value: Any, previous: Any, tenant_id: str, cipher: SecretCipher, where: str) -> Any:
    if value == MASK:
        if not is_secret_ref(previous):
            raise ValidationError(f"{where}: the mask can only stand for a stored secret")
        return previous
    if not isinstance(value, str):
        raise ValidationError(f"{where}: give the secret as plain text")
    return {SECRET_KEY: cipher.encrypt(tenant_id, value)}


def seal_upstream(
    fields: dict[str, Any], tenant_id: str, cipher: SecretCipher, previous: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Encrypt an upstream's secrets: ``env`` values, and the bearer token, headers or client secret of ``auth``."""
    previous = previous or {}
    sealed = copy.deepcopy(fields)
    if isinstance(sealed.get("env"), dict):
        old_env = previous.get("env") or {}
        sealed["env"] = {
            k: _seal_value(v, old_env.get(k), tenant_id, cipher, f"env.{k}") for k, v in sealed["env"].items()
        }
    auth = sealed.get("auth")
    if isinstance(auth, dict):
        old_auth = previous.get("auth") or {}
        for key in ("token", "client_secret"):
            if key in auth:
                auth[key] = _seal_value(auth[key], old_auth.get(key), tenant_id, cipher, f"auth.{key}")
        if isinstance(auth.get("headers"), dict):
            old_headers = old_auth.get("headers") or {}
            auth["headers"] = {
                k: _seal_value(v, old_headers.get(k), tenant_id, cipher, f"auth.headers.{k}")
                for k, v in auth["headers"].items()
            }
    return sealed


def unseal(value: Any, tenant_id: str, cipher: SecretCipher) -> Any:
    """A copy of ``value`` with every sealed secret decrypted (only for connecting; never stored or logged)."""
    if is_secret_ref(value):
        return cipher.decrypt(tenant_id, value[SECRET_KEY])
    if isinstance(value, dict):
        return {key: unseal(item, tenant_id, cipher) for key, item in value.items()}
    if isinstance(value, list):
        return [unseal(item, tenant_id, cipher) for item in value]
    return value
