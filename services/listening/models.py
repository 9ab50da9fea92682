"""listening's tables."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Column, Index, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from shared.db import UTCDateTime, utcnow


def new_id() -> str:
    return str(uuid.uuid4())


class Mention(SQLModel, table=True):
    """One ingested post with its analysis; `created_at` is the post's own time on its platform."""

    __tablename__ = "mention"
    __table_args__ = (
        # De-duplication: a platform's post is stored once per tenant.
        UniqueConstraint("tenant_id", "platform", "external_id", name="uq_mention_platform_external_id"),
        # The list endpoint pages newest first within a tenant.
        Index("ix_mention_tenant_created", "tenant_id", "created_at", "id"),
    )

    id: str = Field(default_factory=new_id, primary_key=True)
    tenant_id: str = Field(index=True)
    platform: str = Field(max_length=32)
    external_id: str = Field(max_length=128)
    text: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(sa_type=UTCDateTime)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    url: str | None = Field(default=None, max_length=2048)
    author_handle: str = Field(max_length=100)
    author_display_name: str | None = Field(default=None, max_length=200)
    author_followers: int | None = None
    author_verified: bool = False
    influence: float = 0.0
    in_reply_to: str | None = Field(default=None, max_length=128)
    # What the post is on its platform (post, comment, message: a private message, review); None when the
    # ingest API did not say. A reply to a private message is a private message.
    kind: str | None = Field(default=None, max_length=16)
    # The author's stable platform user id (compliance `user_delete` finds posts by it); a review's stars.
    author_id: str | None = Field(default=None, max_length=128, index=True)
    rating: int | None = None
    # The channel it arrived through (None: the ingest API or an import). A channel's compliance events
    # (deletes, edits, erasures) touch only the posts that arrived through it.
    channel_id: str | None = Field(default=None, max_length=36)
    # Platform compliance (services.listening.channels.compliance): text and author gone, the reason kept.
    redacted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # deleted | withheld | user_deleted (platforms); erased (a privacy erasure); suppressed (a later post of
    # an erased author, stored anonymously: services.listening.mentions.suppression)
    redaction_reason: str | None = Field(default=None, max_length=16)
    edited_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Analysis (services.listening.mentions.analysing): None until the worker analysed the mention.
    analysis_status: str = Field(default="pending", max_length=16, index=True)  # pending|analysing|analysed
    claimed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The W3C `traceparent` of the request that received the post: the worker's announcement of it
    # continues that trace (an id pair, nothing of the post).
    traceparent: str | None = Field(default=None, max_length=55)
    analysed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    needs_rescore: bool = Field(default=False, index=True)
    language: str | None = Field(default=None, max_length=16)
    language_confidence: float | None = None
    language_variant: str | None = Field(default=None, max_length=16)
    sentiment_label: str | None = Field(default=None, max_length=16)
    sentiment_score: float | None = None
    sentiment_confidence: float | None = None
    intent: str | None = Field(default=None, max_length=32)
    intent_confidence: float | None = None
    analysis_tier: str | None = Field(default=None, max_length=32)  # fast | quality | human
    low_confidence: bool = False
    # Repost grouping (services.listening.mentions.grouping): same text → same group, the first mention's id.
    fingerprint: str | None = Field(default=None, max_length=32, index=True)
    group_id: str | None = Field(default=None, max_length=36, index=True)
    sketch: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))


# --- listening queries, matches, spike alerts, repost grouping (services.listening.queries.logic etc.) ---


class ListeningQuery(SQLModel, table=True):
    """A tenant's saved boolean query (brand, competitor or topic) that new mentions are matched against."""

    __tablename__ = "listening_query"
    # A page of the tenant's queries, newest first (keyset on created_at, id).
    __table_args__ = (Index("ix_listening_query_tenant_created", "tenant_id", "created_at", "id"),)

    id: str = Field(default_factory=new_id, primary_key=True)
    tenant_id: str = Field(index=True)
    name: str = Field(max_length=200)
    kind: str = Field(max_length=16)
    expression: str = Field(sa_column=Column(Text, nullable=False))
    languages: str = Field(default="", max_length=400)  # comma-separated folded codes; "" = any language
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class MentionQueryMatch(SQLModel, table=True):
    """A mention matched a listening query (written once, at analysis time)."""

    __tablename__ = "mention_query_match"
    __table_args__ = (
        UniqueConstraint("tenant_id", "mention_id", "query_id", name="uq_mention_query_match"),
        Index("ix_mention_query_match_query", "tenant_id", "query_id"),
    )

    id: str = Field(default_factory=new_id, primary_key=True)
    tenant_id: str = Field(index=True)
    mention_id: str = Field(max_length=36, index=True)
    query_id: str = Field(max_length=36)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # Counted in its bucket's negative count: corrections (queries.logic.resync_mention) move it by this.
    negative: bool = False


class QueryBucket(SQLModel, table=True):
    """Matched mentions of one query in one hour of post time, and how many of them were negative."""

    __tablename__ = "query_bucket"
    __table_args__ = (UniqueConstraint("tenant_id", "query_id", "bucket_start", name="uq_query_bucket"),)

    id: str = Field(default_factory=new_id, primary_key=True)
    tenant_id: str = Field(index=True)
    query_id: str = Field(max_length=36, index=True)
    bucket_start: datetime = Field(sa_type=UTCDateTime)
    total: int = 0
    negative: int = 0


class Alert(SQLModel, table=True):
    """A spike of a query's volume or negative share, raised when the spike starts."""

    __tablename__ = "listening_alert"
    __table_args__ = (
        UniqueConstraint("tenant_id", "query_id", "kind", "bucket_start", name="uq_listening_alert"),
        Index("ix_listening_alert_tenant_created", "tenant_id", "created_at", "id"),
    )

    id: str = Field(default_factory=new_id, primary_key=True)
    tenant_id: str = Field(index=True)
    query_id: str = Field(max_length=36, index=True)
    kind: str = Field(max_length=16)
    observed: float
    baseline: float
    score: float
    bucket_start: datetime = Field(sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    acknowledged_by: str | None = Field(default=None, max_length=36)


class QueryBackfill(SQLModel, table=True):
    """Matching a new or changed query against the tenant's already-analysed posts, newest first.

    Each batch commits its matches, bucket counts and this row's cursor together (queries.backfill), so a
    restart resumes after the last batch; `generation` moves when the query changes, restarting the pass.
    """

    __tablename__ = "query_backfill"

    query_id: str = Field(primary_key=True, max_length=36)
    tenant_id: str = Field(index=True)
    generation: int = 0
    status: str = Field(default="running", max_length=16, index=True)  # running | done | stopped
    since: datetime | None = Field(default=None, sa_type=UTCDateTime)  # oldest post time scanned
    cursor_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # the last post scanned
    cursor_id: str | None = Field(default=None, max_length=36)
    scanned: int = 0
    matched: int = 0
    started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class MentionSketchKey(SQLModel, table=True):
    """One of a mention's near-duplicate candidate keys (mentions.fingerprint.candidate_keys)."""

    __tablename__ = "mention_sketch_key"
    __table_args__ = (Index("ix_mention_sketch_key_lookup", "tenant_id", "key"),)

    id: str = Field(default_factory=new_id, primary_key=True)
    tenant_id: str = Field(index=True)
    key: str = Field(max_length=16)
    mention_id: str = Field(max_length=36)


# --- agent corrections (services.listening.mentions.labels) ---


class MentionLabel(SQLModel, table=True):
    """An agent's correction of a mention's analysis: per-tenant labelled data."""

    __tablename__ = "mention_label"
    __table_args__ = (Index("ix_mention_label_tenant_created", "tenant_id", "created_at", "id"),)

    id: str = Field(default_factory=new_id, primary_key=True)
    tenant_id: str = Field(index=True)
    mention_id: str = Field(max_length=36, index=True)
    user_id: str = Field(max_length=64)
    sentiment: str | None = Field(default=None, max_length=16)
    intent: str | None = Field(default=None, max_length=32)
    language: str | None = Field(default=None, max_length=16)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # The mention's embedding (float16), filled by the analysis worker: the tenant's prototypes
    # (services.listening.mentions.learning). Deleted with the label (erasure, retention).
    vector: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))


# --- channels: platform connections, encrypted secrets, pull cursors (services.listening.channels.logic) ---


class Channel(SQLModel, table=True):
    """A tenant's connection to one platform: webhook secrets (encrypted) or a pull source and its cursor."""

    __tablename__ = "listening_channel"
    __table_args__ = (Index("ix_listening_channel_tenant_created", "tenant_id", "created_at", "id"),)

    id: str = Field(default_factory=new_id, primary_key=True)
    tenant_id: str = Field(index=True)
    platform: str = Field(max_length=16, index=True)
    name: str = Field(max_length=200)
    settings: str = Field(default="{}", sa_column=Column(Text, nullable=False))  # JSON
    # Fernet token of the credentials JSON (shared.secrets); never returned or logged.
    secrets: str = Field(default="", sa_column=Column(Text, nullable=False))
    # Pull connectors: the saved cursor (JSON), written in the same transaction as the batch it follows.
    cursor: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    last_success_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Webhook channels: when the platform's subscription check (Meta's `hub.challenge`, X's CRC) last
    # passed with the stored credentials; new credentials clear it until the platform checks again.
    verified_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, max_length=200)
    last_error_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    failures: int = 0
    ingested: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PullerLease(SQLModel, table=True):
    """Which listening replica pulls a channel, until when: each pull channel is pulled by one replica,
    and another takes it over once the lease runs out (services.listening.channels.leases)."""

    __tablename__ = "listening_puller_lease"

    channel_id: str = Field(primary_key=True, max_length=36)
    owner: str = Field(max_length=100)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)


class MentionFetch(SQLModel, table=True):
    """A mention a platform named by id only (Instagram @mentions), to be read from its API.

    Written in the webhook delivery's transaction and deleted in the one that stores the fetched mention,
    so a restart or crash in between only delays it. A claim moves `next_attempt_at` ahead by a lease;
    failures push it back with back-off; `gave_up_at` keeps the row (for an operator) once retrying is
    pointless.
    """

    __tablename__ = "listening_mention_fetch"
    __table_args__ = (
        UniqueConstraint("channel_id", "external_id", name="uq_mention_fetch_channel_external"),
        Index("ix_mention_fetch_due", "gave_up_at", "next_attempt_at"),
    )

    id: str = Field(default_factory=new_id, primary_key=True)
    tenant_id: str = Field(index=True)
    channel_id: str = Field(max_length=36)
    external_id: str = Field(max_length=128)
    # The connector's MentionReference (JSON): kind, ids of the post, its parent and the brand's account.
    reference: str = Field(sa_column=Column(Text, nullable=False))
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, max_length=200)
    gave_up_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# --- quotas: posts a tenant sent per clock hour (services.listening.usage.quotas) ---


class TenantUsage(SQLModel, table=True):
    """Posts a tenant sent (stored or duplicate) in one clock hour: the ingest quota's window."""

    __tablename__ = "listening_tenant_usage"

    tenant_id: str = Field(primary_key=True, max_length=36)
    hour: datetime = Field(primary_key=True, sa_type=UTCDateTime)
    posts: int = 0


class MatchFlag(SQLModel, table=True):
    """A mention whose query matching ran out of its time budget (queries.logic): its matches are partial.

    `decided` of the tenant's `queries` active queries were matched before the budget ran out.
    """

    __tablename__ = "match_flag"
    __table_args__ = (
        UniqueConstraint("tenant_id", "mention_id", name="uq_match_flag"),
        Index("ix_match_flag_tenant_created", "tenant_id", "created_at"),
    )

    id: str = Field(default_factory=new_id, primary_key=True)
    tenant_id: str = Field(index=True)
    mention_id: str = Field(max_length=36)
    status: str = Field(default="budget_exceeded", max_length=32)
    queries: int = 0
    decided: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# --- replies: what engagement asked to send through a channel, and what came of it (channels.replies) ---


class Reply(SQLModel, table=True):
    """One outbound message engagement asked listening to send, by engagement's `message_id`.

    Written with its request's inbox row; `pending` rows are claimed by the reply sender (a claim moves
    `next_attempt_at` ahead by a lease), and the outcome (`sent` with the platform's id, or `failed` with
    a code) is written in the transaction that stages its event. A request for a message already pending
    or sent changes nothing: a reply is sent at most once after a success.
    """

    __tablename__ = "listening_reply"
    __table_args__ = (
        UniqueConstraint("tenant_id", "message_id", name="uq_listening_reply_message"),
        Index("ix_listening_reply_due", "status", "next_attempt_at"),
    )

    id: str = Field(default_factory=new_id, primary_key=True)
    tenant_id: str = Field(index=True)
    message_id: str = Field(max_length=128)
    conversation_id: str = Field(max_length=128)
    channel_id: str = Field(max_length=128)
    platform: str | None = Field(default=None, max_length=16)
    # The platform of the post answered (`facebook`, `instagram`, ...) when listening holds it.
    target_platform: str | None = Field(default=None, max_length=16)
    kind: str = Field(max_length=16)  # public | direct
    text: str = Field(sa_column=Column(Text, nullable=False))
    in_reply_to: str | None = Field(default=None, max_length=256)
    recipient: str | None = Field(default=None, max_length=256)
    # A WhatsApp template message: {"name", "language", "parameters"} (JSON); `text` is then its body
    # filled in.
    template: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # Meta's message tag a private message is sent with (`HUMAN_AGENT` past the 24-hour window), decided
    # when the request was recorded.
    messaging_tag: str | None = Field(default=None, max_length=32)
    status: str = Field(default="pending", max_length=16)  # pending | sent | failed
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    platform_message_id: str | None = Field(default=None, max_length=256)
    error_code: str | None = Field(default=None, max_length=64)
    error: str | None = Field(default=None, max_length=400)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    failed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ChannelTemplate(SQLModel, table=True):
    """An approved WhatsApp message template a channel may send outside the customer-service window.

    Stored as the tenant declares it (Meta approves templates in the WhatsApp Manager; this is listening's
    copy): `name` and `language` (Meta's code, `en_US`, `es`) identify it, `body` keeps its text with
    `{{1}}`-style placeholders, `parameters` how many the body takes."""

    __tablename__ = "listening_channel_template"
    __table_args__ = (
        UniqueConstraint(
            "tenant_id", "channel_id", "name", "language", name="uq_listening_channel_template_name"
        ),
        Index("ix_listening_channel_template_channel", "tenant_id", "channel_id", "created_at", "id"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    tenant_id: str = Field(max_length=64)
    channel_id: str = Field(max_length=36)
    name: str = Field(max_length=512)
    language: str = Field(max_length=16)
    category: str = Field(max_length=16)  # MARKETING | UTILITY | AUTHENTICATION
    body: str = Field(sa_column=Column(Text, nullable=False))
    parameters: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# --- privacy: authors whose data was erased (services.listening.mentions.suppression) ---


class Suppression(SQLModel, table=True):
    """One hashed identifier of an erased person: a later post by them is kept as an anonymous count.

    `digest` is sha256 over the tenant, the platform (or `*`), the kind (`handle`, `id`) and the
    normalised value, so the table names nobody, and an ingest looks a post's author up by primary key.
    """

    __tablename__ = "listening_suppression"

    digest: str = Field(primary_key=True, max_length=64)
    tenant_id: str = Field(index=True, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# The brand module's table belongs to this database too (migrations find a service's tables here).
from services.listening.brand.models import OwnAccount  # noqa: E402, F401
from services.listening.tenant_privacy.models import ListeningRetention  # noqa: E402, F401
