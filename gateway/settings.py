"""Gateway settings: upstream services, limits and timeouts (env prefix `RAPPORT_`)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from gateway.console import default_root
from shared.settings import Settings

MIB = 1024 * 1024


class GatewaySettings(Settings):
    """What the gateway needs on top of the shared settings (`identity_url`, `redis_url` are inherited)."""

    service: str = "gateway"
    listening_url: str = "http://127.0.0.1:8002"
    profiles_url: str = "http://127.0.0.1:8003"
    engagement_url: str = "http://127.0.0.1:8004"
    metrics_url: str = "http://127.0.0.1:8005"
    # Authenticated calls are limited per tenant, anonymous public calls per client IP.
    rate_limit_per_window: int = 1200
    rate_limit_window_s: int = 60
    # Public routes without a class of their own (per client IP).
    public_rate_limit_per_window: int = 120
    public_rate_limit_window_s: int = 60
    # Each public route class has its own budget per client IP (same window as the public one), so one
    # kind of traffic cannot lock out another: logins, signups, refreshes, JWKS fetches (served from
    # the gateway's cache) and platform webhooks (per channel, plus a generous per-IP ceiling).
    login_rate_limit_per_window: int = 30
    signup_rate_limit_per_window: int = 10
    refresh_rate_limit_per_window: int = 120
    jwks_rate_limit_per_window: int = 600
    webhook_rate_limit_per_window: int = 600
    webhook_ip_rate_limit_per_window: int = 6000
    # Requests whose bearer token fails verification (missing, malformed, expired, revoked), per IP.
    bad_token_rate_limit_per_window: int = 60
    # How long the gateway serves identity's JWKS from memory.
    jwks_cache_s: float = 60.0
    # How long a `/readyz` answer (Redis ping, JWKS) is reused: probes cannot make it fan out.
    readiness_cache_s: float = 1.0
    # Prefix of the counters in Redis (deployments sharing one Redis keep apart by it).
    rate_limit_namespace: str = "rapport:rl"
    max_body_bytes: int = MIB
    # Load balancers in front of the gateway whose X-Forwarded-For/-Proto are believed (comma-separated
    # IPs or CIDRs, uvicorn's `forwarded_allow_ips`). Empty: the gateway is the edge, the peer is the client.
    trusted_proxies: str = ""
    # Longest silence from a service (before its answer, or between chunks of it) before a 504.
    upstream_timeout_s: float = 30.0
    upstream_connect_timeout_s: float = 5.0
    # Connections kept to all upstreams together; idle ones are closed before uvicorn's 5 s keep-alive.
    upstream_pool_size: int = 512
    upstream_keepalive_s: float = 4.0
    openapi_cache_s: float = 60.0
    # How long the answer to a POST with an `Idempotency-Key` is kept for repeats of that request.
    idempotency_ttl_s: int = 24 * 3600
    readiness_timeout_s: float = 2.0
    # Origins of browser apps allowed to call the API (CORS): a comma-separated or JSON list of
    # `scheme://host[:port]`, or `*` for any. None by default: browsers on other origins are refused.
    cors_origins: Annotated[list[str], NoDecode] = []
    # How long a ticket for an event stream (`POST /v1/conversations/stream/tickets`) may be used, once.
    stream_ticket_ttl_s: int = Field(default=60, ge=1)
    # The folder of the web console's static files, served at `/console` (env RAPPORT_CONSOLE_DIR).
    console_dir: str = Field(default_factory=default_root)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [origin.strip() for origin in text.split(",") if origin.strip()]
        return value

    def upstreams(self) -> dict[str, str]:
        """Service name → base URL (no trailing slash)."""
        urls = {
            "identity": self.identity_url,
            "listening": self.listening_url,
            "profiles": self.profiles_url,
            "engagement": self.engagement_url,
            "metrics": self.metrics_url,
        }
        return {name: url.rstrip("/") for name, url in urls.items()}
