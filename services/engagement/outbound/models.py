"""The tables of outbound webhooks: a tenant's subscriptions and their deliveries."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from shared.db import UTCDateTime, utcnow
from shared.ids import uuid4_str


class WebhookSubscription(SQLModel, table=True):
    """A partner endpoint and the event types it wants, signed with a secret kept encrypted."""

    __tablename__ = "webhook_subscription"
    __table_args__ = (Index("ix_webhook_subscription_tenant_created", "tenant_id", "created_at", "id"),)

    id: str = Field(default_factory=uuid4_str, primary_key=True, max_length=64)
    tenant_id: str = Field(index=True, max_length=64)
    url: str = Field(max_length=2000)
    # JSON list of exact types and wildcards (`engagement.*`).
    event_types: str = Field(sa_column=Column(Text, nullable=False))
    description: str | None = Field(default=None, max_length=500)
    purpose: str = Field(max_length=20)
    # active | paused (by the tenant) | disabled (after too many failures in a row)
    status: str = Field(default="active", max_length=10)
    # Fernet tokens (`shared.secrets.SecretBox`) of {"secret": "whsec_..."}.
    secret: str = Field(sa_column=Column(Text, nullable=False))
    previous_secret: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    previous_secret_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    consecutive_failures: int = 0
    disabled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class WebhookDelivery(SQLModel, table=True):
    """One event for one subscription: its body bytes, signed afresh per attempt, and its outcome."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        UniqueConstraint("subscription_id", "event_id", name="uq_webhook_delivery_subscription_event"),
        # The worker's scan: due pending rows.
        Index("ix_webhook_delivery_due", "status", "next_attempt_at"),
        # A subscription's log, newest first.
        Index("ix_webhook_delivery_log", "subscription_id", "created_at", "id"),
    )

    # Also the `webhook-id` header: the same on every attempt.
    id: str = Field(default_factory=uuid4_str, primary_key=True, max_length=64)
    tenant_id: str = Field(index=True, max_length=64)
    subscription_id: str = Field(max_length=64)
    event_id: str = Field(max_length=64)
    event_type: str = Field(max_length=100)
    body: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    # JSON list of the profile ids the payload carries (so a privacy request can find what went out).
    profile_ids: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    # pending | succeeded | failed (refused by the partner, no retry) | dead (retries exhausted)
    status: str = Field(default="pending", max_length=10)
    attempts: int = 0
    # Attempts since the delivery was created or last replayed: the retry schedule's position.
    round_attempts: int = 0
    # When a pending delivery is due; while an attempt is in flight, when its lease ends.
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, max_length=40)
    last_latency_ms: float | None = None
    succeeded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
