"""listening's tables."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint
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
    in_reply_to: str | None = Field(default=None, max_length=128)
    language: str = Field(max_length=16)
    sentiment_label: str = Field(max_length=16)
    sentiment_score: float
    intent: str = Field(max_length=32)
    analysis_tier: str = Field(max_length=32)
