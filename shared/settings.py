"""Settings read from `RAPPORT_*` environment variables, built per app (never at import)."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """What every Rapport process needs to know; services subclass it for their own knobs."""

    model_config = SettingsConfigDict(env_prefix="RAPPORT_", extra="ignore")

    service: str = "rapport"
    nats_url: str = "nats://127.0.0.1:4222"
    # JetStream replicas per stream: 1 for a single server, 3 on a three-node cluster.
    stream_replicas: int = 1
    # How long (days) the JetStream streams keep an event (dead letters included): events carry personal
    # data, so no copy outlives this. Every process that connects applies it to every stream.
    stream_max_age_days: float = 30.0
    redis_url: str = "redis://127.0.0.1:6379/0"
    # How often the revocation deny-list in Redis is checked for changes (a revoked token is refused
    # within this, by the gateway and by every service).
    revocation_poll_s: float = 0.25
    # Empty means: a SQLite file `<var_dir>/<service>.db`.
    database_url: str = ""
    var_dir: Path = Path("var")
    identity_url: str = "http://127.0.0.1:8001"
    jwt_issuer: str = "rapport-identity"
    jwt_audience: str = "rapport"
    log_level: str = "INFO"
    # Print finished spans to stdout (OTLP export: `OTEL_EXPORTER_OTLP_ENDPOINT`, shared/telemetry.py).
    trace_console: bool = False
    # Swagger UI at `/docs` and the OpenAPI document at `/openapi.json` (the gateway's merged one reads
    # the services'). Production manifests turn them off: the API's map is then not served at all.
    api_docs: bool = True
    # How long (ms) an event consumer holds a short batch to let more events join it before handling it
    # (`shared.events.bus.Consumer.linger`): fewer, fuller batches for less CPU per event, at that much
    # latency. 0: handle each fetch at once. A `Subscription` may set its own.
    consumer_linger_ms: float = 0.0

    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file under `var_dir`."""
        if self.database_url:
            return self.database_url
        self.var_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite+aiosqlite:///{self.var_dir / (self.service + '.db')}"
