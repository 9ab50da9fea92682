"""metrics' tables: one fact row per mention, listening-query match, alert, conversation, survey answer,
profile and order, folded from events; every scorecard number is computed from these rows, and the rows
are what its drill-down exports.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Index, LargeBinary, Text
from sqlmodel import Field, SQLModel

from shared.db import UTCDateTime


class MentionFact(SQLModel, table=True):
    """A mention as listening analysed it (latest analysis). A post removed from its platform keeps its row
    as a tombstone (`removed_at`), so a late or repeated `received` cannot bring it back."""

    __tablename__ = "mention_fact"
    __table_args__ = (Index("ix_mention_fact_tenant_created", "tenant_id", "created_at"),)

    tenant_id: str = Field(primary_key=True, max_length=64)
    mention_id: str = Field(primary_key=True, max_length=64)
    created_at: datetime = Field(sa_type=UTCDateTime)
    platform: str = Field(max_length=64)
    channel_id: str | None = Field(default=None, max_length=64)
    language: str = Field(max_length=16)
    sentiment: str = Field(max_length=16)
    intent: str = Field(max_length=32)
    # When the latest analysis was given (a late re-analysis never overwrites a newer one).
    analysed_at: datetime = Field(sa_type=UTCDateTime)
    removed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class MentionQueryFact(SQLModel, table=True):
    """One listening query a mention matched, with the query's kind (brand, competitor, topic)."""

    __tablename__ = "mention_query_fact"
    __table_args__ = (Index("ix_mention_query_fact_tenant_query", "tenant_id", "query_id"),)

    tenant_id: str = Field(primary_key=True, max_length=64)
    mention_id: str = Field(primary_key=True, max_length=64)
    query_id: str = Field(primary_key=True, max_length=64)
    kind: str = Field(max_length=16)


class MentionHashtagFact(SQLModel, table=True):
    """One #hashtag of a mention's text (case-folded, without `#`; `shared.hashtags`)."""

    __tablename__ = "mention_hashtag_fact"

    tenant_id: str = Field(primary_key=True, max_length=64)
    mention_id: str = Field(primary_key=True, max_length=64)
    tag: str = Field(primary_key=True, max_length=64)


class AlertFact(SQLModel, table=True):
    """A listening alert raised on a query."""

    __tablename__ = "alert_fact"
    __table_args__ = (Index("ix_alert_fact_tenant_bucket", "tenant_id", "bucket_start"),)

    tenant_id: str = Field(primary_key=True, max_length=64)
    alert_id: str = Field(primary_key=True, max_length=64)
    query_id: str = Field(max_length=64)
    kind: str = Field(max_length=32)
    bucket_start: datetime = Field(sa_type=UTCDateTime)


class ConversationFact(SQLModel, table=True):
    """A conversation's clock: when it opened, was first answered, resolved and reopened; its deadlines,
    team and agent. The opening mention (`mention_id`) gives its platform, channel and language."""

    __tablename__ = "conversation_fact"
    __table_args__ = (
        Index("ix_conversation_fact_tenant_opened", "tenant_id", "opened_at"),
        # The part days at a period's ends (the whole days come from `DayCount`, `SlaCount`).
        Index("ix_conversation_fact_tenant_first_resolved", "tenant_id", "first_resolved_at"),
        Index("ix_conversation_fact_tenant_fr_due", "tenant_id", "first_response_due_at"),
        Index("ix_conversation_fact_tenant_res_due", "tenant_id", "resolution_due_at"),
    )

    tenant_id: str = Field(primary_key=True, max_length=64)
    conversation_id: str = Field(primary_key=True, max_length=64)
    # Null until `engagement.conversation.opened` arrives (an event about it may come first).
    opened_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    profile_id: str | None = Field(default=None, max_length=64)
    mention_id: str | None = Field(default=None, max_length=64)
    priority: str | None = Field(default=None, max_length=16)
    team_id: str | None = Field(default=None, max_length=64)
    assignee_id: str | None = Field(default=None, max_length=64)
    assigned_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    first_response_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The first resolution (reopen rate) and the latest one (resolution time; null while open again).
    first_resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    status: str | None = Field(default=None, max_length=16)
    status_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    reopen_count: int = 0
    first_response_due_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolution_due_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    first_response_breached: bool = False
    resolution_breached: bool = False
    # The first response and the latest resolution counted in the team's business hours, where the
    # conversation's SLA runs in them (null: the wall clock applies).
    first_response_business_s: float | None = None
    resolution_business_s: float | None = None
    # Merged into another conversation (closed by the merge): it leaves every count.
    merged_into: str | None = Field(default=None, max_length=64)


class SurveyFact(SQLModel, table=True):
    """One survey answer (CSAT 1-5 or NPS 0-10)."""

    __tablename__ = "survey_fact"
    __table_args__ = (Index("ix_survey_fact_tenant_answered", "tenant_id", "answered_at"),)

    tenant_id: str = Field(primary_key=True, max_length=64)
    survey_id: str = Field(primary_key=True, max_length=64)
    kind: str = Field(primary_key=True, max_length=8)
    score: int
    conversation_id: str = Field(max_length=64)
    profile_id: str = Field(max_length=64)
    assignee_id: str | None = Field(default=None, max_length=64)
    channel_id: str | None = Field(default=None, max_length=64)
    platform: str | None = Field(default=None, max_length=64)
    answered_at: datetime = Field(sa_type=UTCDateTime)


class ProfileFact(SQLModel, table=True):
    """A customer profile: when and where it was first seen, its lifecycle stage and lifetime value as of
    its latest snapshot, and the profile it was merged into (and when; cleared by an unmerge)."""

    __tablename__ = "profile_fact"
    __table_args__ = (
        Index("ix_profile_fact_tenant_first_seen", "tenant_id", "first_seen_at"),
        # The customers with a value (CLV) and the merged profiles, without reading every profile.
        Index("ix_profile_fact_tenant_snapshot", "tenant_id", "snapshot_at"),
        Index("ix_profile_fact_tenant_merged_into", "tenant_id", "merged_into"),
    )

    tenant_id: str = Field(primary_key=True, max_length=64)
    profile_id: str = Field(primary_key=True, max_length=64)
    first_seen_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The platform it was first seen on; `partner:<system>` for a profile a partner's CRM created.
    platform: str | None = Field(default=None, max_length=64)
    lifecycle_stage: str = Field(default="stranger", max_length=16)
    stage_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # {currency: "decimal string"}, as of the snapshot at `snapshot_at`.
    lifetime_value: dict[str, str] = Field(default_factory=dict, sa_type=JSON)
    snapshot_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    merged_into: str | None = Field(default=None, max_length=64)
    merged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # When and where this profile alone was first seen: `first_seen_at` and `platform` are the person's
    # (the earliest of the profile and those merged into it), worked out again from these on an unmerge.
    own_first_seen_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    own_platform: str | None = Field(default=None, max_length=64)


class OrderFact(SQLModel, table=True):
    """An order, as profiles announced it (`profiles.profile.updated` naming `order_count`: one event per
    order; `event_id` is that event's), recorded at `at` on profile `origin_id`; `owner_id` is the
    customer it counts for now (the survivor, after merges)."""

    __tablename__ = "order_fact"
    __table_args__ = (
        # A customer's orders, read from the index alone: merges, first orders (conversion, the day
        # summaries) and retention (the two periods' orders grouped per customer).
        Index("ix_order_fact_tenant_owner_at", "tenant_id", "owner_id", "at"),
        # The orders of a period (retention's drill-down rows).
        Index("ix_order_fact_tenant_at", "tenant_id", "at"),
    )

    tenant_id: str = Field(primary_key=True, max_length=64)
    event_id: str = Field(primary_key=True, max_length=64)
    origin_id: str = Field(max_length=64)
    owner_id: str = Field(max_length=64)
    at: datetime = Field(sa_type=UTCDateTime)


class ErasedProfile(SQLModel, table=True):
    """A profile id erased by a privacy request, and the random id that replaced it in every fact row:
    an event naming it that arrives later (one in transit during the erasure) is folded under the
    random id too (`privacy.anonymised`)."""

    __tablename__ = "metrics_erased_profile"

    tenant_id: str = Field(primary_key=True, max_length=64)
    profile_id: str = Field(primary_key=True, max_length=64)
    anonymous_id: str = Field(max_length=64)


class MentionCount(SQLModel, table=True):
    """The live (not removed) mentions of an hour (`span` "h") or a UTC day ("d"), by when they were
    posted, counted per value of one field (`field`: sentiment, language, intent, platform; or `kind`:
    their brand and competitor query matches), among all of them (`filter` "") or among those of one
    platform, channel, language or listening query (`filter` "platform:x", "query:<id>", ...).

    Kept by the folding in the transaction that changes the mention rows (`logic/rollups.py`); the
    scorecard reads it for the whole hours and days of a period with at most one of those filters, and
    the mention rows for the rest."""

    __tablename__ = "mention_count"

    tenant_id: str = Field(primary_key=True, max_length=64)
    filter: str = Field(primary_key=True, max_length=80)
    span: str = Field(primary_key=True, max_length=1)
    start: datetime = Field(primary_key=True, sa_type=UTCDateTime)
    field: str = Field(primary_key=True, max_length=16)
    value: str = Field(primary_key=True, max_length=64)
    n: int = 0


class DayCount(SQLModel, table=True):
    """Conversations, survey answers and first sightings counted per UTC day (`day`, "YYYY-MM-DD") and
    value, among all of them (`filter` "") or under one filter ("team:x", "agent:x", "channel:x",
    "platform:x"). `figure`: `opened` (by opening day; value: the agent now, "" for none), `unresolved`
    (by opening day), `reopen` (by first resolution; value "1" when reopened since, else "0"), `csat` and
    `nps` (by answer day; value: the score), `seen` (profiles by first sighting; value: whole days, rounded
    up, from the sighting to the customer's first order, "-" for none or an earlier one).

    Kept by the folding in the transaction that changes the rows (`logic/summaries.py`); the scorecard
    reads it for the whole days of a period and the rows for the part days at its ends."""

    __tablename__ = "day_count"

    tenant_id: str = Field(primary_key=True, max_length=64)
    filter: str = Field(primary_key=True, max_length=80)
    figure: str = Field(primary_key=True, max_length=16)
    day: str = Field(primary_key=True, max_length=10)
    value: str = Field(primary_key=True, max_length=64)
    n: int = 0


class SlaCount(SQLModel, table=True):
    """Conversations with an SLA deadline, counted per the UTC days of their first-response and
    resolution deadlines (`fr_day`, `res_day`: "YYYY-MM-DD", "" for none) and whether each was met (0/1),
    per filter as in `DayCount`: a period's compliance needs both deadlines of a conversation at once."""

    __tablename__ = "sla_count"
    __table_args__ = (
        Index("ix_sla_count_fr", "tenant_id", "filter", "fr_day"),
        Index("ix_sla_count_res", "tenant_id", "filter", "res_day"),
    )

    tenant_id: str = Field(primary_key=True, max_length=64)
    filter: str = Field(primary_key=True, max_length=80)
    fr_day: str = Field(primary_key=True, max_length=10)
    res_day: str = Field(primary_key=True, max_length=10)
    met_fr: int = Field(primary_key=True)
    met_res: int = Field(primary_key=True)
    n: int = 0


class DurationSet(SQLModel, table=True):
    """The first-response or resolution durations (`figure`) of the conversations opened on one UTC day,
    per filter as in `DayCount`: every duration, in hundredths of a minute, sorted (`durations`:
    little-endian 64-bit integers), so that exact nearest-rank percentiles merge the days of a period.
    `last_done_at`: the latest reply or resolution ever added (a period measured before it reads that
    day's rows instead)."""

    __tablename__ = "duration_set"

    tenant_id: str = Field(primary_key=True, max_length=64)
    filter: str = Field(primary_key=True, max_length=80)
    figure: str = Field(primary_key=True, max_length=16)
    day: str = Field(primary_key=True, max_length=10)
    n: int = 0
    durations: bytes = Field(default=b"", sa_type=LargeBinary)
    last_done_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ClvTotal(SQLModel, table=True):
    """The customers (merged profiles counted in their survivor) and their order total (a decimal string)
    per lifecycle stage now and currency: what `card.clv_rows` adds up, kept as orders change."""

    __tablename__ = "clv_total"

    tenant_id: str = Field(primary_key=True, max_length=64)
    stage: str = Field(primary_key=True, max_length=16)
    currency: str = Field(primary_key=True, max_length=64)
    customers: int = 0
    total: str = Field(default="0", max_length=64)


class MetricsSnapshot(SQLModel, table=True):
    """A copy of the fact tables as of a point in the streams: for each consumer (durable name), the
    stream sequence up to which every event was folded into the rows copied (`rapport metrics rebuild`
    restores the copy and replays the streams from there). Only the latest snapshot is kept."""

    __tablename__ = "metrics_snapshot"

    snapshot_id: str = Field(primary_key=True, max_length=64)
    taken_at: datetime = Field(sa_type=UTCDateTime)
    # {durable: stream sequence}: every event up to it is in the copy (later ones may be too).
    watermarks: dict[str, int] = Field(default_factory=dict, sa_type=JSON)
    # How many erased profile ids metrics knew of then (an erasure since calls for a new snapshot).
    erased_count: int = 0
    row_count: int = 0


class MetricsSnapshotRow(SQLModel, table=True):
    """One fact row of a snapshot, as JSON (`data`), with its table's name; an erasure rewrites the
    person's profile ids here too."""

    __tablename__ = "metrics_snapshot_row"
    __table_args__ = (Index("ix_metrics_snapshot_row_tenant", "snapshot_id", "tenant_id"),)

    snapshot_id: str = Field(primary_key=True, max_length=64)
    position: int = Field(primary_key=True)
    table_name: str = Field(max_length=64)
    tenant_id: str = Field(max_length=64)
    data: str = Field(sa_type=Text)
