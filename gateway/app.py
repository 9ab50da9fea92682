"""The gateway app: a lean ASGI proxy for `/v1/*` in front of a small FastAPI app (health, docs)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse

from gateway import console
from gateway.cors import CORSMiddleware
from gateway.middleware import GatewayProxy, RequestIdMiddleware
from gateway.routes import PROXIED_PREFIXES, RouteTable
from gateway.settings import GatewaySettings
from gateway.state import GatewayState, gateway_state
from shared.docs import install_docs
from shared.errors import NotFound, install_error_handlers
from shared.events.asyncapi import asyncapi_document
from shared.logging import setup_logging
from shared.prometheus import Metrics, PrometheusMiddleware, metrics_response
from shared.service import state_dependency
from shared.telemetry import (
    ASGIApp,
    Receive,
    Scope,
    Send,
    TracingMiddleware,
    exporting,
    flush_tracing,
    setup_tracing,
)

log = logging.getLogger("rapport.gateway")

GatewayStateDep = Annotated[GatewayState, Depends(state_dependency(GatewayState))]
# Headers an HTTP proxy adds: a request carrying one came through the ingress, not from a scraper
# inside the cluster (`/metrics` is refused to it).
_RELAYED = (b"forwarded", b"x-forwarded-for", b"x-real-ip")


class GatewayApp(FastAPI):
    """FastAPI for the gateway's own routes; proxied paths go straight to the lean ASGI proxy."""

    def __init__(self, *, proxy: ASGIApp, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.proxy = proxy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(PROXIED_PREFIXES):
            await self.proxy(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    """Build the gateway; its state (aiohttp pool, Redis, JWKS verifier…) lives as long as the lifespan."""
    settings = settings or GatewaySettings()
    table = RouteTable()
    # Spans are only worth their cost (~30 us each) when something records them.
    record_spans = settings.trace_console or exporting()
    proxy = GatewayProxy(settings, table=table, record_spans=record_spans)
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        setup_logging(settings.service, settings.log_level)
        setup_tracing(settings.service, console=settings.trace_console)
        async with gateway_state(settings, table, metrics) as state, proxy.serve(state):
            app.state.service = state
            log.info("gateway.started", extra={"upstreams": sorted(state.upstreams.bases)})
            yield
        await asyncio.to_thread(flush_tracing)
        log.info("gateway.stopped")

    served: ASGIApp = TracingMiddleware(proxy) if record_spans else proxy
    served = PrometheusMiddleware(served, metrics=metrics)
    if settings.cors_origins:
        # Outside authentication and rate limiting: a preflight carries no token.
        served = CORSMiddleware(served, origins=settings.cors_origins)
    app = GatewayApp(
        proxy=served,
        title="Rapport gateway",
        version="0.1.0",
        lifespan=lifespan,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        # Spans come from shared TracingMiddleware; FastAPI's native telemetry would add a second one.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    install_error_handlers(app)
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(TracingMiddleware)
    app.add_middleware(PrometheusMiddleware, metrics=metrics)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, origins=settings.cors_origins)
    app.state.metrics = metrics

    @app.get("/healthz", summary="Liveness")
    async def healthz() -> dict[str, str]:
        """The process runs."""
        return {"status": "ok"}

    @app.get("/readyz", summary="Readiness: the gateway's Redis and token keys")
    async def readyz(state: GatewayStateDep) -> JSONResponse:
        """200 when the gateway can limit and verify (Redis answers, identity's key set is loaded).

        It answers from the gateway's own state, at most one check per `readiness_cache_s`: a public
        probe cannot make the gateway fan out to the services (their readiness is their own probe's)."""
        checks = await state.readiness.checks()
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": checks}, status_code=200 if ready else 503
        )

    # Resolved once here (symbolic links included), not on every request.
    console_root = Path(settings.console_dir).resolve()

    @app.api_route("/console", methods=["GET", "HEAD"], include_in_schema=False)
    @app.api_route("/console/{path:path}", methods=["GET", "HEAD"], include_in_schema=False)
    async def console_file(request: Request, path: str = "") -> Response:
        """The web console's files (`index.html` at `/console` and `/console/`)."""
        return console.serve(console_root, path, request.headers)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus(request: Request) -> Response:
        """The gateway's Prometheus metrics, for a scraper that reaches the gateway directly.

        Outside authentication and rate limits like `/healthz`, and without tenant data (bounded labels);
        a request relayed by a proxy (the ingress adds `X-Forwarded-For`) is answered 404, so tenants
        coming through the public entry do not see the gateway's traffic figures."""
        headers = request.scope["headers"]
        if any(name in _RELAYED for name, _ in headers):
            raise NotFound("No route matches this path and method.")
        return metrics_response(metrics)

    if settings.api_docs:

        @app.get("/openapi.json", include_in_schema=False)
        async def openapi(state: GatewayStateDep) -> JSONResponse:
            """The merged OpenAPI document of the public API."""
            return JSONResponse(await state.openapi.document())

        # Built once: it depends only on the event catalog this process was started with.
        events_doc = asyncapi_document()

        @app.get("/asyncapi.json", include_in_schema=False)
        async def asyncapi() -> JSONResponse:
            """The AsyncAPI 3.0 document of every event on the bus, generated from the event catalog."""
            return JSONResponse(events_doc)

        install_docs(app, openapi_url="/openapi.json", title="Rapport API")

    return app
