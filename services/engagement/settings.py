"""Settings of the engagement service (`RAPPORT_*` environment variables)."""

from __future__ import annotations

from pydantic import Field

from shared.settings import Settings

# Seconds before each delivery attempt of a webhook: at once, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
DEFAULT_RETRY_SCHEDULE = [0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0]


class EngagementSettings(Settings):
    """engagement's knobs on top of the shared settings."""

    service: str = "engagement"
    # A customer who writes again within this many seconds of a resolution reopens the same conversation;
    # later, a new one opens.
    reopen_window_s: float = Field(default=7 * 86400.0, ge=0)
    # How often the snooze clock opens again the snoozed conversations whose time has come.
    snooze_poll_s: float = Field(default=5.0, gt=0)
    # Fernet keys encrypting webhook signing secrets at rest (`shared.secrets`), comma-separated: the
    # first encrypts, all decrypt. Empty: a key generated on first start in `<var_dir>/engagement-secret.key`.
    secret_key: str = ""
    # Webhook endpoints may be private, loopback or link-local addresses (self-hosted setups, tests).
    webhook_allow_private_urls: bool = False
    # A JSON list, one entry per attempt: the first attempt goes at once (its entry is 0 by convention);
    # entry i is the wait in seconds before attempt i + 1, jittered by ±10 %. After the last attempt the
    # delivery is dead (replayable).
    webhook_retry_schedule: list[float] = DEFAULT_RETRY_SCHEDULE
    # After a secret rotation, the old secret signs too (a second signature) for this long.
    webhook_secret_grace_s: float = 86400.0
    # Per attempt: connect, write and read, each.
    webhook_timeout_s: float = 10.0
    # Deliveries in flight at once per subscription (one slow partner holds only its own slots) and in all.
    webhook_endpoint_concurrency: int = 2
    # Attempts a subscription may start per second, per process (a draining backlog never floods it).
    webhook_endpoint_rate_per_s: float = Field(default=50.0, gt=0)
    webhook_max_in_flight: int = 64
    # Failed attempts in a row after which a subscription is disabled (`engagement.webhook.disabled`).
    webhook_disable_after_failures: int = 50
    # Finished deliveries (succeeded, failed, dead) older than this leave the log (their bodies with them).
    webhook_log_retention_days: float = 30.0
    # How often the delivery worker looks for due deliveries when nothing woke it.
    webhook_poll_s: float = 1.0
    # How often a replica matches the webhook durables to the subscriptions (one per named event type,
    # `outbound/consumers.py`): a subscription made through another replica is consumed here within this.
    webhook_consumers_refresh_s: float = Field(default=10.0, gt=0)
    # A webhook durable younger than this is kept even while no subscription names its type: the one it
    # was made for may not have committed yet.
    webhook_consumer_grace_s: float = Field(default=120.0, ge=0)
    # The live inbox (`GET /v1/conversations/stream`): a keep-alive comment goes out whenever nothing was
    # written for this long (below the gateway's `upstream_timeout_s` and any proxy's idle timeout), and
    # at most this many streams are open per process (one more is a 503).
    stream_heartbeat_s: float = Field(default=15.0, gt=0)
    stream_max_connections: int = Field(default=500, ge=1)
    # How often the SLA clock looks for conversations past 80 % (warning) or 100 % (breach) of a target.
    sla_poll_s: float = Field(default=5.0, gt=0)
    # A replica re-reads a tenant's routing rules, teams and SLA policies when an edit bumped their version,
    # checked at most this often per tenant (edits reach every replica within about this long).
    routing_rules_refresh_s: float = Field(default=1.0, ge=0)
    # Conversations in progress a new agent holds at most at once (admins change it per agent).
    agent_capacity: int = Field(default=5, ge=1, le=1000)
    # An agent's presence lapses to offline this long after their last heartbeat (Redis key TTL).
    presence_ttl_s: float = Field(default=60.0, gt=0)
    # How often the presence sweeper looks for lapsed heartbeats (any replica; stored facts decide).
    presence_sweep_s: float = Field(default=5.0, gt=0)
    # The survey link put in the question: the token is appended. By default the public API's own
    # `GET/POST /v1/surveys/{token}` behind the gateway; a tenant's web page that calls it can take its place.
    survey_link_base: str = "http://127.0.0.1:8000/v1/surveys/"
    # Retention (services.engagement.tenant_privacy.retention): a tenant whose privacy policy sets a period
    # has its older messages deleted at once when the policy arrives, then every `retention_interval_s`,
    # `retention_batch` rows per transaction.
    retention_interval_s: float = Field(default=3600.0, gt=0)
    retention_batch: int = Field(default=500, ge=1)
