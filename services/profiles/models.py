"""profiles' tables: profiles, the identity graph of their identifiers, timelines, merges, orders,
lifecycle history, custom attributes, notes, segments and match suggestions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from shared.db import UTCDateTime, utcnow
from shared.ids import uuid4_str


def new_id() -> str:
    return uuid4_str()


class Profile(SQLModel, table=True):
    """One customer as the tenant knows them, across their identifiers.

    A value a post does not carry (followers, influence, display name unknown) never overwrites a known one.
    """

    __tablename__ = "profile"
    __table_args__ = (Index("ix_profile_tenant_created", "tenant_id", "created_at", "id"),)

    id: str = Field(default_factory=new_id, primary_key=True)
    tenant_id: str = Field(index=True)
    display_name: str | None = Field(default=None, max_length=200)
    # For match suggestions (bios are compared); at most 500 characters.
    bio: str | None = Field(default=None, max_length=500)
    followers: int | None = None
    influence: float = 0.0  # 0..100
    mention_count: int = 0
    sentiment_sum: float = 0.0
    # Recent-weighted sentiment (-1..1): trend = trend * (1 - a) + score * a, the first score as it is.
    sentiment_trend: float = 0.0
    last_sentiment: str | None = Field(default=None, max_length=16)
    intent_counts: dict[str, int] = Field(default_factory=dict, sa_type=JSON)
    # Language codes, most recent first, at most 8.
    languages: list[str] = Field(default_factory=list, sa_type=JSON)
    lifecycle_stage: str = Field(default="stranger", max_length=32)
    at_risk: bool = False  # churn risk
    order_count: int = 0
    # {currency: "decimal string"}
    lifetime_value: dict[str, str] = Field(default_factory=dict, sa_type=JSON)
    attributes: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    tags: list[str] = Field(default_factory=list, sa_type=JSON)
    # The survivor's id once this profile was merged away.
    merged_into: str | None = Field(default=None, max_length=64)
    first_seen_at: datetime = Field(sa_type=UTCDateTime)
    last_seen_at: datetime = Field(sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Identifier(SQLModel, table=True):
    """One identifier attached to a profile, with the evidence of the link.

    `kind` is handle, platform_user_id, email, phone, website or external_id; `namespace` the platform
    (handle, platform_user_id), the partner's system (external_id), else ''. Strong identifiers
    (platform_user_id, external_id, a handle attested by the platform, a verified or partner e-mail/phone)
    are the only ones that merge profiles automatically.
    """

    __tablename__ = "identifier"
    __table_args__ = (
        UniqueConstraint(
            "tenant_id", "kind", "namespace", "value_normalised", name="uq_identifier_kind_namespace_value"
        ),
    )

    id: str = Field(default_factory=new_id, primary_key=True)
    tenant_id: str = Field(index=True)
    profile_id: str = Field(foreign_key="profile.id", index=True)
    kind: str = Field(max_length=32)
    namespace: str = Field(default="", max_length=64)
    value: str = Field(max_length=320)
    value_normalised: str = Field(max_length=320)
    # platform | verified | partner | agent | unverified
    evidence: str = Field(max_length=16)
    confidence: float = 1.0
    # e.g. mention:<id>, import, partner:<system>, agent:<user_id>
    source: str = Field(max_length=128)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Interaction(SQLModel, table=True):
    """One interaction on a profile's timeline: a mention, conversation, reply, survey or order."""

    __tablename__ = "interaction"
    __table_args__ = (
        UniqueConstraint("tenant_id", "kind", "ref_id", name="uq_interaction_kind_ref"),
        Index("ix_interaction_profile_occurred", "tenant_id", "profile_id", "occurred_at", "id"),
    )

    id: str = Field(default_factory=new_id, primary_key=True)
    tenant_id: str = Field(index=True)
    profile_id: str = Field(foreign_key="profile.id")
    # The profile it was first attributed to (unmerge gives it back).
    origin_profile_id: str = Field(max_length=64)
    kind: str = Field(default="mention", max_length=16)
    ref_id: str = Field(max_length=64)  # the mention's, order's, ... id
    platform: str | None = Field(default=None, max_length=32)
    channel_id: str | None = Field(default=None, max_length=64)
    intent: str | None = Field(default=None, max_length=32)
    sentiment_label: str | None = Field(default=None, max_length=16)
    sentiment_score: float | None = None
    language: str | None = Field(default=None, max_length=16)
    # The first 280 characters of the text; None once redacted.
    excerpt: str | None = Field(default=None, max_length=280)
    # {"mention": "/v1/mentions/<id>", "conversation": "/v1/conversations/<id>"}
    links: dict[str, str] = Field(default_factory=dict, sa_type=JSON)
    # The post was removed on its platform: it stays on the timeline and in the counters, its text goes.
    redacted: bool = False
    occurred_at: datetime = Field(sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ProfileMerge(SQLModel, table=True):
    """A merge of `merged_id` into `survivor_id`, with what each looked like before (unmerge restores)."""

    __tablename__ = "profile_merge"
    __table_args__ = (Index("ix_profile_merge_survivor", "tenant_id", "survivor_id"),)

    id: str = Field(default_factory=new_id, primary_key=True)
    tenant_id: str = Field(index=True)
    survivor_id: str = Field(max_length=64)
    merged_id: str = Field(max_length=64, index=True)
    reason: str = Field(max_length=16)  # identifier | agent | suggestion
    evidence: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    actor: str | None = Field(default=None, max_length=128)
    survivor_before: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    merged_before: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    identifier_ids: list[str] = Field(default_factory=list, sa_type=JSON)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    undone_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class MatchSuggestion(SQLModel, table=True):
    """Two profiles that may be one person, with the score and the evidence; an agent decides."""

    __tablename__ = "match_suggestion"
    __table_args__ = (
        UniqueConstraint("tenant_id", "profile_id", "candidate_id", name="uq_match_suggestion_pair"),
    )

    id: str = Field(default_factory=new_id, primary_key=True)
    tenant_id: str = Field(index=True)
    profile_id: str = Field(max_length=64)
    candidate_id: str = Field(max_length=64, index=True)
    score: float
    # [{"signal": "name"|"handle"|"bio"|"link", "detail": str, "score": float}]
    evidence: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSON)
    status: str = Field(default="open", max_length=16)  # open | accepted | rejected
    decided_by: str | None = Field(default=None, max_length=128)
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ProfileOrder(SQLModel, table=True):
    """An order a partner posted; `amount_e4` is the amount times 10,000, exactly."""

    __tablename__ = "profile_order"
    __table_args__ = (UniqueConstraint("tenant_id", "order_id", name="uq_profile_order_order"),)

    id: str = Field(default_factory=new_id, primary_key=True)
    tenant_id: str = Field(index=True)
    profile_id: str = Field(foreign_key="profile.id", index=True)
    order_id: str = Field(max_length=128)
    amount_e4: int
    currency: str = Field(max_length=3)
    ordered_at: datetime = Field(sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class LifecycleChange(SQLModel, table=True):
    """A change of a profile's lifecycle stage or churn risk, with its reason."""

    __tablename__ = "lifecycle_change"
    __table_args__ = (Index("ix_lifecycle_change_profile", "tenant_id", "profile_id", "created_at"),)

    id: str = Field(default_factory=new_id, primary_key=True)
    tenant_id: str = Field(index=True)
    profile_id: str = Field(max_length=64)
    from_stage: str = Field(max_length=32)
    to_stage: str = Field(max_length=32)
    at_risk: bool = False
    reason: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class AttributeDefinition(SQLModel, table=True):
    """A custom attribute of the tenant's profiles: its name and type."""

    __tablename__ = "attribute_definition"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_attribute_definition_name"),)

    id: str = Field(default_factory=new_id, primary_key=True)
    tenant_id: str = Field(index=True)
    name: str = Field(max_length=64)
    type: str = Field(max_length=16)  # string | number | boolean | date | enum
    options: list[str] = Field(default_factory=list, sa_type=JSON)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ProfileNote(SQLModel, table=True):
    """A staff member's note on a profile."""

    __tablename__ = "profile_note"
    __table_args__ = (Index("ix_profile_note_profile", "tenant_id", "profile_id", "created_at", "id"),)

    id: str = Field(default_factory=new_id, primary_key=True)
    tenant_id: str = Field(index=True)
    profile_id: str = Field(foreign_key="profile.id")
    author_id: str = Field(max_length=64)
    body: str = Field(max_length=5000)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Segment(SQLModel, table=True):
    """A named rule over profile fields; its members are kept up to date by events."""

    __tablename__ = "segment"
    __table_args__ = (Index("ix_segment_tenant_created", "tenant_id", "created_at", "id"),)

    id: str = Field(default_factory=new_id, primary_key=True)
    tenant_id: str = Field(index=True)
    name: str = Field(max_length=200)
    rule: str = Field(max_length=2000)
    member_count: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class SegmentMember(SQLModel, table=True):
    """A profile in a segment."""

    __tablename__ = "segment_member"
    __table_args__ = (Index("ix_segment_member_profile", "tenant_id", "profile_id"),)

    tenant_id: str
    segment_id: str = Field(foreign_key="segment.id", primary_key=True)
    profile_id: str = Field(foreign_key="profile.id", primary_key=True)
    added_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class MatchKey(SQLModel, table=True):
    """The blocking index of match suggestions: a profile under each of its keys (a name token, a handle
    stem, a website host). Only profiles sharing a key are ever compared."""

    __tablename__ = "match_key"
    __table_args__ = (Index("ix_match_key_profile", "tenant_id", "profile_id"),)

    tenant_id: str = Field(primary_key=True)
    key: str = Field(primary_key=True, max_length=80)
    profile_id: str = Field(primary_key=True, max_length=64)


# The privacy tables live in their own module; importing it here registers them with the service's schema.
from services.profiles import consent_models as consent_models  # noqa: E402
from services.profiles import privacy_models as privacy_models  # noqa: E402
