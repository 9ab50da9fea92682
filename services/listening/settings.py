"""listening's settings (env prefix `RAPPORT_`)."""

from __future__ import annotations

from services.listening.queries.language.cost import QueryLimits
from shared.settings import Settings


class ListeningSettings(Settings):
    """What the listening service needs to know."""

    service: str = "listening"
    # Fernet key(s) encrypting channel credentials at rest, comma-separated (the first encrypts, all
    # decrypt: rotation). Empty: a key generated on first start in `<var_dir>/listening-secret.key` (0600).
    secret_key: str = ""
    # Tenant-given URLs (Mastodon, Bluesky, feeds) may name private/loopback addresses: tests and
    # on-premises only; production refuses them (SSRF).
    connector_allow_private_urls: bool = False
    # Shortest poll interval a channel may ask for, and the default (seconds).
    connector_min_poll_s: float = 1.0
    connector_default_poll_s: float = 60.0
    # From this many posts/s through the ingest API, the analysis worker gives way to the burst (see
    # mentions.analysing): set it near the rate the whole pipeline sustains on your hardware.
    ingest_burst_rate: float = 250.0
    # This replica runs pull connectors (each channel in one replica at a time, by lease).
    connector_pullers: bool = True
    # Listening queries: a new or changed query is matched against the analysed posts of this many days
    # (newest first, `query_backfill_batch` per transaction, pausing `query_backfill_pause_s` between).
    query_backfill_days: int = 30
    query_backfill_batch: int = 200
    query_backfill_pause_s: float = 0.0
    # Every this many seconds, active queries' current and previous hour are checked for spikes again.
    spike_check_interval_s: float = 60.0
    # Reading id-only mentions (Instagram @mentions) from the platform's API: the first retry after about
    # this many seconds, doubling up to an hour, given up after `connector_fetch_attempts` tries.
    connector_fetch_retry_s: float = 2.0
    connector_fetch_attempts: int = 20
    # Sending replies (engagement.reply.requested): a timeout, network error, 5xx or 429 is tried again
    # after about `reply_retry_s` seconds, doubling (at most five minutes; a longer Retry-After is
    # honoured up to that), until `reply_attempts` tries in all; then `listening.reply.failed`. Each
    # request to the platform gives up after `reply_timeout_s`.
    reply_retry_s: float = 2.0
    reply_attempts: int = 5
    reply_timeout_s: float = 15.0
    # Per-tenant quotas (services.listening.usage.quotas; 0 means no quota). Channels and queries are
    # count caps (409 `quota-exceeded`); posts through the ingest API (`POST /v1/mentions`, `/batch`,
    # `/import`, each post counted) are a rate quota per clock hour (429 with Retry-After). Platform
    # deliveries (webhooks, pulled and fetched posts) are counted but never refused.
    max_channels_per_tenant: int = 50
    max_queries_per_tenant: int = 200
    ingest_posts_per_hour: int = 100_000
    # Listening-query cost (API4). A query is refused with a 422 naming the limit when it is created or
    # changed with more than `query_max_terms` words in its terms and phrases, `query_max_wildcards`
    # `word*` terms, fewer than `query_min_prefix` letters before a `*`, a phrase of more than
    # `query_max_phrase_terms` words, NEAR/n beyond `query_max_near`, more than `query_max_nodes` terms,
    # fields and operators, or more than `query_max_length` characters (2,000 at most in any case).
    # Stored queries written under looser limits keep matching. A tenant holds at most
    # `max_queries_per_tenant` queries (above). Matching one post against all of its tenant's
    # queries runs in a worker thread and stops after `query_match_budget_ms`: the post is then flagged
    # `budget_exceeded` (GET /v1/listening/queries/usage) with the matches found so far.
    query_max_length: int = 2000
    query_max_terms: int = 150
    query_max_wildcards: int = 25
    query_min_prefix: int = 2
    query_max_phrase_terms: int = 16
    query_max_near: int = 50
    query_max_nodes: int = 300
    query_match_budget_ms: float = 50.0
    # Retention (services.listening.tenant_privacy.retention): a tenant whose privacy policy sets a period
    # has its older mentions deleted at once when the policy arrives, then every `retention_interval_s`,
    # `retention_batch` rows per transaction.
    retention_interval_s: float = 3600.0
    retention_batch: int = 500

    def query_limits(self) -> QueryLimits:
        """The query cost limits these settings set."""
        return QueryLimits(
            max_length=self.query_max_length,
            max_terms=self.query_max_terms,
            max_wildcards=self.query_max_wildcards,
            min_prefix=self.query_min_prefix,
            max_phrase_terms=self.query_max_phrase_terms,
            max_near=self.query_max_near,
            max_nodes=self.query_max_nodes,
        )
