"""engagement's tables: the agents projection, conversations and their messages."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from sqlalchemy import Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from shared.db import UTCDateTime, utcnow

Status = Literal["open", "closed"]
Priority = Literal["low", "normal", "high", "urgent"]


def new_id() -> str:
    return str(uuid.uuid4())


class Agent(SQLModel, table=True):
    """A user of the tenant who can be assigned conversations (projected from identity)."""

    __tablename__ = "agent"
    # A page of the tenant's agents, newest first (keyset on created_at, id).
    __table_args__ = (Index("ix_agent_tenant_created", "tenant_id", "created_at", "id"),)

    id: str = Field(primary_key=True, max_length=64, description="The identity user id.")
    tenant_id: str = Field(index=True, max_length=64)
    role: str = Field(max_length=20)
    display_name: str | None = Field(default=None, max_length=200)
    active: bool = True
    last_assigned_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Conversation(SQLModel, table=True):
    """A thread with one customer profile, opened by an actionable mention."""

    __tablename__ = "conversation"
    __table_args__ = (
        # At most one open conversation per profile, even with several engagement replicas racing.
        Index(
            "uq_conversation_open_profile",
            "tenant_id",
            "profile_id",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
        Index("ix_conversation_tenant_created", "tenant_id", "created_at", "id"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=64)
    tenant_id: str = Field(index=True, max_length=64)
    profile_id: str = Field(max_length=64)
    status: str = Field(default="open", max_length=10)
    priority: str = Field(default="normal", max_length=10)
    assignee_id: str | None = Field(default=None, max_length=64)
    first_mention_id: str = Field(max_length=64)
    opened_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Message(SQLModel, table=True):
    """One post in a conversation; a mention becomes at most one message (natural-key idempotency)."""

    __tablename__ = "message"
    __table_args__ = (UniqueConstraint("tenant_id", "mention_id", name="uq_message_tenant_mention"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=64)
    tenant_id: str = Field(index=True, max_length=64)
    conversation_id: str = Field(index=True, max_length=64)
    mention_id: str = Field(max_length=64)
    direction: str = Field(default="inbound", max_length=10)
    platform: str = Field(max_length=64)
    text: str = Field(sa_column=Column(Text, nullable=False))
    intent: str = Field(max_length=30)
    sentiment_label: str = Field(max_length=10)
    # When the author posted it (the mention's own time); `created_at` is when engagement stored it.
    posted_at: datetime = Field(sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # The post was removed on its platform (listening.mention.redacted): `text` is emptied.
    redacted: bool = False


class SeenMention(SQLModel, table=True):
    """Projection of profiles.mention.resolved: a mention's profile and payload, so corrections can route it.

    A `listening.mention.reanalysed` that arrives before the resolution is kept here too (profile_id None,
    `analysis` set); the resolution then routes the mention with that newer analysis.
    """

    __tablename__ = "seen_mention"
    __table_args__ = (UniqueConstraint("tenant_id", "mention_id", name="uq_seen_mention_tenant_mention"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=64)
    tenant_id: str = Field(index=True, max_length=64)
    mention_id: str = Field(max_length=64)
    profile_id: str | None = Field(default=None, max_length=64)
    payload: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # MentionPayload JSON
    analysis: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # newest Analysis JSON
    redacted: bool = False
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# The outbound module's tables belong to this database too (migrations find a service's tables here).
from services.engagement.outbound.models import WebhookDelivery, WebhookSubscription  # noqa: E402

__all__ = ["Agent", "Conversation", "Message", "SeenMention", "WebhookDelivery", "WebhookSubscription"]
