"""The instance's public signing key at a well-known URL: what an auditor checks exports and checkpoints with."""

from __future__ import annotations

from typing import Any

from litestar import Request, get


@get(
    "/.well-known/ledgergate-signing-key",
    sync_to_thread=False,
    summary="The instance's Ed25519 public key for exports and checkpoints",
)
def signing_key(request: Request[Any, Any, Any]) -> dict[str, Any]:
    runtime = request.app.state.runtime
    signing = runtime.signing
    return {
        "instance": runtime.archive.source,
        "algorithm": "ed25519",
        "key_id": signing.key_id,
        "public_key": signing.public_key,
    }
