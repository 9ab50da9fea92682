"""The gateway app: a lean ASGI proxy for `/v1/*` in front of a small FastAPI app (health, docs)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from redis.asyncio import BlockingConnectionPool, Redis

from gateway.cors import CORSMiddleware
from gateway.jwks import JWKSCache
from gateway.middleware import GatewayProxy, GatewayRuntime, RequestIdMiddleware
from gateway.openapi import OpenAPICache
from gateway.proxy import Upstreams, create_session
from gateway.ratelimit import RateLimiter
from gateway.routes import PROXIED_PREFIXES
from gateway.settings import GatewaySettings
from shared.auth import TokenVerifier
from shared.docs import install_docs
from shared.errors import install_error_handlers
from shared.events.asyncapi import asyncapi_document
from shared.logging import setup_logging
from shared.revocation import RevocationList
from shared.telemetry import ASGIApp, Receive, Scope, Send, TracingMiddleware, setup_tracing

log = logging.getLogger("rapport.gateway")


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
    """Build the gateway; clients (aiohttp pool, Redis, JWKS verifier) live as long as the lifespan."""
    settings = settings or GatewaySettings()
    runtime = GatewayRuntime(settings=settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        setup_logging(settings.service, settings.log_level)
        setup_tracing(settings.service, console=settings.trace_console)
        session = create_session(settings)
        # A bounded pool that waits for a free connection instead of failing with "too many connections".
        redis = Redis.from_pool(
            BlockingConnectionPool.from_url(
                settings.redis_url,
                max_connections=32,
                timeout=1.0,
                socket_timeout=1.0,
                socket_connect_timeout=1.0,
                health_check_interval=30,
            )
        )
        upstreams = Upstreams(session, settings.upstreams())
        runtime.upstreams = upstreams
        runtime.limiter = RateLimiter(redis, prefix=settings.rate_limit_namespace)
        runtime.jwks = JWKSCache(
            upstreams, ttl_s=settings.jwks_cache_s, timeout_s=settings.readiness_timeout_s
        )
        runtime.verifier = TokenVerifier(
            issuer=settings.jwt_issuer, audience=settings.jwt_audience, jwks=runtime.jwks.fetch
        )
        runtime.revocations = RevocationList(redis, poll_s=settings.revocation_poll_s)
        revocations = asyncio.create_task(runtime.revocations.run(), name="revocations")
        readiness = Readiness(runtime, redis)
        app.state.readiness = readiness
        app.state.runtime = runtime
        app.state.redis = redis
        app.state.openapi = OpenAPICache(
            upstreams, runtime.table, ttl_s=settings.openapi_cache_s, timeout_s=settings.readiness_timeout_s
        )
        log.info("gateway.started", extra={"upstreams": sorted(upstreams.bases)})
        try:
            yield
        finally:
            revocations.cancel()
            await asyncio.gather(revocations, return_exceptions=True)
            await session.close()
            await redis.aclose()
            log.info("gateway.stopped")

    # Spans are only worth their cost (~30 us each) when something records them.
    proxy: ASGIApp = GatewayProxy(runtime, record_spans=settings.trace_console)
    if settings.trace_console:
        proxy = TracingMiddleware(proxy)
    if settings.cors_origins:
        # Outside authentication and rate limiting: a preflight carries no token.
        proxy = CORSMiddleware(proxy, origins=settings.cors_origins)
    app = GatewayApp(
        proxy=proxy,
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
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, origins=settings.cors_origins)

    @app.get("/healthz", summary="Liveness")
    async def healthz() -> dict[str, str]:
        """The process runs."""
        return {"status": "ok"}

    @app.get("/readyz", summary="Readiness: the gateway's Redis and token keys")
    async def readyz(request: Request) -> JSONResponse:
        """200 when the gateway can limit and verify (Redis answers, identity's key set is loaded).

        It answers from the gateway's own state, at most one check per `readiness_cache_s`: a public
        probe cannot make the gateway fan out to the services (their readiness is their own probe's)."""
        readiness: Readiness = request.app.state.readiness
        checks = await readiness.checks()
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": checks}, status_code=200 if ready else 503
        )

    if settings.api_docs:

        @app.get("/openapi.json", include_in_schema=False)
        async def openapi(request: Request) -> JSONResponse:
            """The merged OpenAPI document of the public API."""
            cache: OpenAPICache = request.app.state.openapi
            return JSONResponse(await cache.document())

        # Built once: it depends only on the event catalog this process was started with.
        events_doc = asyncapi_document()

        @app.get("/asyncapi.json", include_in_schema=False)
        async def asyncapi() -> JSONResponse:
            """The AsyncAPI 3.0 document of every event on the bus, generated from the event catalog."""
            return JSONResponse(events_doc)

        install_docs(app, openapi_url="/openapi.json", title="Rapport API")

    return app


class Readiness:
    """The gateway's readiness (Redis ping, JWKS loaded), reused for `readiness_cache_s` seconds."""

    def __init__(self, runtime: GatewayRuntime, redis: Redis) -> None:
        self._runtime = runtime
        self._redis = redis
        self._checked_at = -1e9
        self._checks: dict[str, str] = {}
        self._lock = asyncio.Lock()

    async def checks(self) -> dict[str, str]:
        ttl = self._runtime.settings.readiness_cache_s
        async with self._lock:
            if time.monotonic() - self._checked_at >= ttl:
                self._checks = await self._probe()
                self._checked_at = time.monotonic()
                if any(v != "ok" for v in self._checks.values()):
                    log.warning("gateway.not_ready", extra={"checks": self._checks})
            return self._checks

    async def _probe(self) -> dict[str, str]:
        timeout = self._runtime.settings.readiness_timeout_s
        jwks = self._runtime.jwks
        assert jwks is not None

        async def redis_ok() -> bool:
            async with asyncio.timeout(timeout):
                return bool(await self._redis.ping())

        async def jwks_ok() -> bool:
            await jwks.document()
            return bool(jwks.keys)

        probes = {"redis": redis_ok(), "jwks": jwks_ok()}
        results = await asyncio.gather(*probes.values(), return_exceptions=True)
        return {
            name: "ok" if result is True else "down" for name, result in zip(probes, results, strict=True)
        }
