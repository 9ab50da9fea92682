"""profiles' tables."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from shared.db import UTCDateTime, utcnow


def new_id() -> str:
    return str(uuid.uuid4())


class Profile(SQLModel, table=True):
    """One customer as the tenant knows them, across their handles."""

    __tablename__ = "profile"
    __table_args__ = (Index("ix_profile_tenant_created", "tenant_id", "created_at", "id"),)

    id: str = Field(default_factory=new_id, primary_key=True)
    tenant_id: str = Field(index=True)
    display_name: str | None = Field(default=None, max_length=200)
    followers: int | None = None
    influence: float = 0.0
    mention_count: int = 0
    sentiment_sum: float = 0.0
    last_sentiment: str | None = Field(default=None, max_length=16)
    lifecycle_stage: str = Field(default="stranger", max_length=32)
    first_seen_at: datetime = Field(sa_type=UTCDateTime)
    last_seen_at: datetime = Field(sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Handle(SQLModel, table=True):
    """A handle on one platform; the normalised form resolves posts to their profile."""

    __tablename__ = "handle"
    __table_args__ = (
        UniqueConstraint("tenant_id", "platform", "handle_normalised", name="uq_handle_platform_normalised"),
    )

    id: str = Field(default_factory=new_id, primary_key=True)
    tenant_id: str = Field(index=True)
    profile_id: str = Field(foreign_key="profile.id", index=True)
    platform: str = Field(max_length=32)
    handle_normalised: str = Field(max_length=100)
    handle: str = Field(max_length=100)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Interaction(SQLModel, table=True):
    """One mention on a profile's timeline."""

    __tablename__ = "interaction"
    __table_args__ = (
        UniqueConstraint("tenant_id", "mention_id", name="uq_interaction_mention"),
        Index("ix_interaction_profile_created", "tenant_id", "profile_id", "created_at", "id"),
    )

    id: str = Field(default_factory=new_id, primary_key=True)
    tenant_id: str = Field(index=True)
    profile_id: str = Field(foreign_key="profile.id")
    mention_id: str = Field(max_length=64)
    platform: str = Field(max_length=32)
    intent: str = Field(max_length=32)
    sentiment_label: str = Field(max_length=16)
    sentiment_score: float = 0.0
    occurred_at: datetime = Field(sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # The post was removed on its platform (listening.mention.redacted). It stays on the timeline and in
    # `mention_count` (the customer did post it); only its content is gone, and profiles stores no text.
    redacted: bool = False
