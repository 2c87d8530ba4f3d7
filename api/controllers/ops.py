"""Open operational endpoints: liveness, readiness, version."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from litestar import Request, Response, get

from application.errors import StoreUnavailableError

__all__ = ["health", "metrics", "ready", "version_info"]


def _version() -> str:
    try:
        return version("ledgergate")
    except PackageNotFoundError:
        return "0.0.0+source"


@get("/health", summary="Liveness")
async def health() -> dict[str, str]:
    return {"status": "ok"}


def _database_check(runtime: Any) -> str:
    """ "ok" or "unreachable", as the last call to the database found it (the follower calls it at least every
    second or two, so this is fresh without a query of its own)."""
    return "ok" if runtime.health.reachable else "unreachable"


@get("/ready", summary="Readiness: true once the projections have caught up since start", sync_to_thread=True)
def ready(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    """``ready`` says whether this process serves; ``checks`` says how each dependency is. An unreachable
    database does not make the process unready: MCP is still served from memory, every instance shares
    the one database, and a balancer that dropped them all would turn a partial outage into a full one."""
    runtime = request.app.state.runtime
    follower = runtime.follower
    is_ready = follower is not None and follower.caught_up.is_set()
    checks = {"database": _database_check(runtime)}
    body = {"ready": is_ready, "position": runtime.board.current(), "checks": checks}
    return Response(content=body, status_code=200 if is_ready else 503)


@get("/version", summary="Version")
async def version_info() -> dict[str, str]:
    return {"name": "ledgergate", "version": _version()}


@get("/metrics", summary="Prometheus metrics of this process", sync_to_thread=True)
def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    runtime = request.app.state.runtime
    state = request.app.state.mcp
    hot = runtime.hot
    if hot is not None:
        try:
            head = runtime.registry.recorder.max_notification_id() or 0
        except StoreUnavailableError:  # the lag keeps its last value; the other metrics are this process's own
            pass
        else:
            state.metrics.projection_lag.set(max(0, head - hot.position))
    state.metrics.streams_open.set(state.hub.count())
    return Response(content=state.metrics.render(), media_type="text/plain; version=0.0.4")
