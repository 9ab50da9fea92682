"""What a running gateway holds: one typed object, entered by the app's lifespan and left at its end.

Each gateway app builds its own (aiohttp pool, Redis pool, JWKS and OpenAPI copies, token verifier,
revocation mirror, readiness): two gateways in one process share none of it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from redis.asyncio import BlockingConnectionPool, Redis

from gateway.consent import ConsentReader
from gateway.idempotency import IdempotencyStore
from gateway.jwks import JWKSCache
from gateway.openapi import OpenAPICache
from gateway.proxy import Upstreams, create_session
from gateway.ratelimit import RateLimiter
from gateway.routes import RouteTable
from gateway.settings import GatewaySettings
from gateway.tickets import TicketStore
from shared.auth import TokenVerifier
from shared.events.bus import Bus
from shared.prometheus import Metrics
from shared.revocation import RevocationList

log = logging.getLogger("rapport.gateway")


@dataclass(frozen=True)
class GatewayState:
    """The gateway's clients and caches; the proxy and the gateway's own routes read them."""

    settings: GatewaySettings
    table: RouteTable
    redis: Redis
    upstreams: Upstreams
    limiter: RateLimiter
    jwks: JWKSCache
    verifier: TokenVerifier
    revocations: RevocationList
    openapi: OpenAPICache
    readiness: Readiness
    idempotency: IdempotencyStore
    tickets: TicketStore
    # JetStream, for the audit records of consent-checked requests (the gateway keeps no database).
    bus: Bus
    consent: ConsentReader


@asynccontextmanager
async def gateway_state(
    settings: GatewaySettings, table: RouteTable, metrics: Metrics | None = None
) -> AsyncIterator[GatewayState]:
    """Open the clients and start the revocation mirror; stop and close them all on the way out."""
    bus = Bus(settings.nats_url, name="rapport-gateway", replicas=settings.stream_replicas, metrics=metrics)
    await bus.connect()
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
    limiter = RateLimiter(redis, prefix=settings.rate_limit_namespace)
    jwks = JWKSCache(upstreams, ttl_s=settings.jwks_cache_s, timeout_s=settings.readiness_timeout_s)
    revocations = RevocationList(redis, poll_s=settings.revocation_poll_s)
    state = GatewayState(
        settings=settings,
        table=table,
        redis=redis,
        upstreams=upstreams,
        limiter=limiter,
        jwks=jwks,
        verifier=TokenVerifier(issuer=settings.jwt_issuer, audience=settings.jwt_audience, jwks=jwks.fetch),
        revocations=revocations,
        openapi=OpenAPICache(
            upstreams, table, ttl_s=settings.openapi_cache_s, timeout_s=settings.readiness_timeout_s
        ),
        readiness=Readiness(settings, redis, jwks),
        idempotency=IdempotencyStore(redis, ttl_s=settings.idempotency_ttl_s),
        tickets=TicketStore(redis, ttl_s=settings.stream_ticket_ttl_s),
        bus=bus,
        consent=ConsentReader(limiter),
    )
    mirror = asyncio.create_task(revocations.run(), name="revocations")
    try:
        yield state
    finally:
        mirror.cancel()
        await asyncio.gather(mirror, return_exceptions=True)
        await session.close()
        await bus.close()
        await redis.aclose()


class Readiness:
    """The gateway's readiness (Redis ping, JWKS loaded), reused for `readiness_cache_s` seconds.

    NATS is not part of it: only consent-checked requests need it (their audit records), and while it is
    away they answer 503 (`audit-unavailable`) and every other route keeps working."""

    def __init__(self, settings: GatewaySettings, redis: Redis, jwks: JWKSCache) -> None:
        self._settings = settings
        self._redis = redis
        self._jwks = jwks
        self._checked_at = -1e9
        self._checks: dict[str, str] = {}
        self._lock = asyncio.Lock()

    async def checks(self) -> dict[str, str]:
        ttl = self._settings.readiness_cache_s
        async with self._lock:
            if time.monotonic() - self._checked_at >= ttl:
                self._checks = await self._probe()
                self._checked_at = time.monotonic()
                if any(v != "ok" for v in self._checks.values()):
                    log.warning("gateway.not_ready", extra={"checks": self._checks})
            return self._checks

    async def _probe(self) -> dict[str, str]:
        timeout = self._settings.readiness_timeout_s
        jwks = self._jwks

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
