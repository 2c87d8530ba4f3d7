"""Open operational endpoints: liveness, readiness, version."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from litestar import Request, Response, get
from litestar.openapi import ResponseSpec

from api.schemas import Readiness

__all__ = ["health", "metrics", "ready", "version_info"]


def _version() -> str:
    try:
        return version("ledgergate")
    except PackageNotFoundError:
        return "0.0.0+source"


@get("/health", summary="Liveness")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@get(
    "/ready",
    summary="Readiness: true once the projections have caught up since start",
    sync_to_thread=True,
    responses={503: ResponseSpec(data_container=Readiness, description="Not ready yet", generate_examples=False)},
)
def ready(request: Request[Any, Any, Any]) -> Response[Readiness]:
    runtime = request.app.state.runtime
    follower = runtime.follower
    is_ready = follower is not None and follower.caught_up.is_set()
    body = {"ready": is_ready, "position": runtime.board.current()}
    return Response(content=body, status_code=200 if is_ready else 503)  # type: ignore[arg-type]


@get("/version", summary="Version")
async def version_info() -> dict[str, str]:
    return {"name": "ledgergate", "version": _version()}


@get(
    "/metrics",
    summary="Prometheus metrics of this process",
    sync_to_thread=True,
    media_type="text/plain; version=0.0.4; charset=utf-8",
)
def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    runtime = request.app.state.runtime
    state = request.app.state.mcp
    hot = runtime.hot
    if hot is not None:
        state.metrics.projection_lag.set(max(0, (runtime.registry.recorder.max_notification_id() or 0) - hot.position))
    state.metrics.streams_open.set(state.hub.count())
    return Response(content=state.metrics.render(), media_type="text/plain; version=0.0.4")
