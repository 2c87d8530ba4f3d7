"""The composition root: ``create_app(settings)`` builds the Litestar application."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import anyio.to_thread
from litestar import Litestar
from litestar.config.cors import CORSConfig

from ledgergate.api.allow import answer_options
from ledgergate.api.controllers.audit import audit_router
from ledgergate.api.controllers.catalog import catalog_routers
from ledgergate.api.controllers.events import events_router
from ledgergate.api.controllers.ops import health, metrics, ready, version_info, version_of
from ledgergate.api.controllers.signing import signing_key
from ledgergate.api.controllers.tenants import tenants_router
from ledgergate.api.controllers.tokens import tokens_router
from ledgergate.api.controllers.upstreams import upstreams_router
from ledgergate.api.errors import exception_handlers
from ledgergate.api.json_request import LimitedJsonRequest
from ledgergate.api.logs import configure_logging, flush_logs
from ledgergate.api.mcp.routes import mcp_routers
from ledgergate.api.mcp.wiring import close_mcp_state, open_mcp_state, start_supervisor
from ledgergate.api.observability import AccessLog
from ledgergate.api.observability.collectors import ProcessSampler, catalog_source
from ledgergate.api.openapi import openapi_config
from ledgergate.api.proxy_headers import ProxyHeaders, trusted_networks
from ledgergate.api.runtime import Runtime, build_runtime
from ledgergate.api.ui import admin_router
from ledgergate.application.upstream_service import UpstreamService
from ledgergate.infrastructure.settings import Settings, load_settings
from ledgergate.infrastructure.telemetry import configure_tracing, shutdown_tracing, tracing_enabled
from ledgergate.infrastructure.upstream.mcp_client import McpUpstreamConnector, UpstreamUnavailableError

__all__ = ["create_app"]

log = logging.getLogger("ledgergate")


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> Litestar:
    """Build the app. With ``runtime`` given, the caller owns it; otherwise the lifespan opens and closes one."""
    settings = settings or load_settings()
    configure_logging(settings.log_level, settings.log_stream, tracing_enabled)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        owned = runtime is None
        app.state.runtime = runtime or await anyio.to_thread.run_sync(build_runtime, settings)
        configure_tracing(version_of())  # in each worker, before the MCP state looks for a tracer provider
        app.state.mcp = open_mcp_state(app.state.runtime)
        metrics = app.state.mcp.metrics
        metrics.add_scrape_source(catalog_source(app.state.runtime, metrics))
        app.state.sampler = ProcessSampler(metrics, also=lambda: metrics.streams_open.set(app.state.mcp.hub.count()))
        app.state.upstreams = UpstreamService(
            app.state.runtime.registry, McpUpstreamConnector(app.state.runtime.egress), (UpstreamUnavailableError,)
        )
        stopped = asyncio.Event()
        supervisor = asyncio.create_task(start_supervisor(app.state.runtime, app.state.upstreams).run(stopped))
        sampling = asyncio.create_task(app.state.sampler.run(stopped))
        gc.collect()  # start-up's garbage goes now; what it keeps lives as long as the worker:
        gc.freeze()  # full collections no longer walk it (the gc module's advice for long-lived servers)
        try:
            yield
        finally:
            stopped.set()
            await supervisor
            await sampling
            app.state.sampler.close()
            shutdown_tracing()
            await close_mcp_state(app.state.runtime)
            if owned:
                await anyio.to_thread.run_sync(app.state.runtime.close)
            await anyio.to_thread.run_sync(flush_logs)  # a worker's process ends without logging's own shutdown

    app = Litestar(
        route_handlers=[
            health,
            ready,
            version_info,
            metrics,
            tenants_router,
            tokens_router,
            upstreams_router,
            audit_router,
            events_router,
            signing_key,
            *catalog_routers(),
            *mcp_routers(),
            admin_router(),
        ],
        lifespan=[lifespan],
        exception_handlers=exception_handlers,
        before_request=answer_options,
        middleware=[partial(ProxyHeaders, networks=trusted_networks(settings.trusted_proxies))],
        request_max_body_size=settings.max_body_bytes,
        request_class=LimitedJsonRequest,
        openapi_config=openapi_config(),
        cors_config=None if settings.host in ("127.0.0.1", "localhost") else CORSConfig(allow_origins=[]),
        debug=False,
    )
    app.asgi_handler = AccessLog(
        app.asgi_handler, settings.access_log, tracing_enabled
    )  # around routing: 404s are logged too
    return app
