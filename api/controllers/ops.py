"""Operational endpoints: liveness, readiness and version (open), metrics (platform admins)."""

from __future__ import annotations

import hmac
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from litestar import Request, Response, get
from litestar.openapi import ResponseSpec

from ledgergate.api.auth import provide_principal
from ledgergate.api.openapi import BEARER, problems
from ledgergate.api.schemas import Readiness

__all__ = ["health", "metrics", "ready", "version_info", "version_of"]


def version_of() -> str:
    try:
        return version("ledgergate")
    except PackageNotFoundError:
        return "0.0.0+source"


@get("/health", summary="Liveness")
async def health() -> dict[str, str]:
    return {"status": "ok"}


def _checks(runtime: Any) -> dict[str, str]:
    """The state of each dependency: ``"ok"`` or what is wrong with it. Redis being unreachable
    degrades the gateway (legacy MCP sessions answer 503) without making it unready: REST and
    stateless MCP are still served, and every process sees the same Redis, so taking them all out
    of rotation would turn a partial outage into a full one. The same holds for the database: MCP is
    served from memory while it is away. Its state is what the last call to it found (the follower
    calls it every second or two), so the check costs no query."""
    checks: dict[str, str] = {"database": "ok" if runtime.health.reachable else "unreachable"}
    redis = runtime.extras.get("redis_health")
    if redis is not None:
        checks["redis"] = redis.check()
    return checks


@get(
    "/ready",
    summary="Readiness: true once the projections have caught up since start; checks name degraded dependencies",
    sync_to_thread=True,
    responses={503: ResponseSpec(data_container=Readiness, description="Not ready yet", generate_examples=False)},
)
def ready(request: Request[Any, Any, Any]) -> Response[Readiness]:
    """``ready`` says whether this process serves; ``checks`` says how each dependency is. An unreachable
    database does not make the process unready: MCP is still served from memory, every instance shares
    the one database, and a balancer that dropped them all would turn a partial outage into a full one."""
    runtime = request.app.state.runtime
    follower = runtime.follower
    is_ready = follower is not None and follower.caught_up.is_set()
    checks = _checks(runtime)
    status = "starting" if not is_ready else ("ok" if all(v == "ok" for v in checks.values()) else "degraded")
    body = {"ready": is_ready, "status": status, "position": runtime.board.current(), "checks": checks}
    return Response(content=body, status_code=200 if is_ready else 503)  # type: ignore[arg-type]


@get("/version", summary="Version")
async def version_info() -> dict[str, str]:
    return {"name": "ledgergate", "version": version_of()}


def _may_scrape(request: Request[Any, Any, Any]) -> None:
    """The scrape token (``LEDGERGATE_METRICS_TOKEN``) or a platform-admin token. Raises: UnauthorizedError,
    ForbiddenError."""
    expected = request.app.state.runtime.settings.metrics_token
    given = request.headers.get("authorization") or ""
    if (
        expected
        and given[:7].lower() == "bearer "
        and hmac.compare_digest(given[7:].strip().encode(), expected.encode())
    ):
        return
    provide_principal(request).allow(None, "platform-admin")


@get(
    "/metrics",
    summary="Prometheus metrics of every worker of this instance (the scrape token or a platform-admin token)",
    sync_to_thread=True,
    media_type="text/plain; version=0.0.4; charset=utf-8",
    security=[{BEARER: []}],
    responses=problems(401, 403),
)
def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    _may_scrape(request)
    state = request.app.state.mcp
    sampler = getattr(request.app.state, "sampler", None)
    if sampler is not None:
        sampler.sample()  # this worker's own process metrics and streams, fresh
    return Response(content=state.metrics.render(), media_type="text/plain; version=0.0.4")
