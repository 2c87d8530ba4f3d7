"""Open operational endpoints: liveness, readiness, version."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from litestar import Request, Response, get

__all__ = ["health", "ready", "version_info"]


def _version() -> str:
    try:
        return version("ledgergate")
    except PackageNotFoundError:
        return "0.0.0+source"


@get("/health", summary="Liveness")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@get("/ready", summary="Readiness: true once the projections have caught up since start", sync_to_thread=True)
def ready(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    runtime = request.app.state.runtime
    follower = runtime.follower
    is_ready = follower is not None and follower.caught_up.is_set()
    body = {"ready": is_ready, "position": runtime.board.current()}
    return Response(content=body, status_code=200 if is_ready else 503)


@get("/version", summary="Version")
async def version_info() -> dict[str, str]:
    return {"name": "ledgergate", "version": _version()}
