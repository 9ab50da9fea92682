"""API models of outbound webhooks."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from shared.pagination import Page

Purpose = Literal["engagement", "profiling", "marketing", "analytics"]
SubscriptionStatus = Literal["active", "paused", "disabled"]
DeliveryStatus = Literal["pending", "succeeded", "failed", "dead"]

# An exact event type or a wildcard (`engagement.*`).
EventPattern = Annotated[str, StringConstraints(min_length=1, max_length=100)]
URL_MAX = 2000


def _http_url(url: str) -> str:
    if not (url.startswith("https://") or url.startswith("http://")):
        raise ValueError("the URL must be http:// or https://")
    return url


class SubscriptionCreate(BaseModel):
    """A new subscription: where to send which events, for which processing purpose."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=8, max_length=URL_MAX)
    event_types: list[EventPattern] = Field(
        min_length=1,
        max_length=50,
        description="Exact event types or wildcards (`engagement.*`) from `GET /v1/webhooks/event-types`.",
    )
    description: str | None = Field(default=None, max_length=500)
    purpose: Purpose

    _url = field_validator("url")(_http_url)


class SubscriptionUpdate(BaseModel):
    """Fields to change; those left out keep their value."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, min_length=8, max_length=URL_MAX)
    event_types: list[EventPattern] | None = Field(default=None, min_length=1, max_length=50)
    description: str | None = Field(default=None, max_length=500)
    purpose: Purpose | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, url: str | None) -> str | None:
        return None if url is None else _http_url(url)


class SubscriptionRead(BaseModel):
    """A subscription as listed (its secret is never shown again)."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    url: str
    event_types: list[str]
    description: str | None
    purpose: Purpose
    status: SubscriptionStatus
    consecutive_failures: int
    previous_secret_expires_at: datetime | None
    disabled_at: datetime | None
    created_at: datetime
    updated_at: datetime


class SubscriptionCreated(SubscriptionRead):
    """A new subscription with its signing secret, shown this once."""

    secret: str


class SecretRotated(BaseModel):
    """The new signing secret, shown this once; the old one also signs until `previous_secret_expires_at`."""

    secret: str
    previous_secret_expires_at: datetime


SubscriptionPage = Page[SubscriptionRead]


class EventTypeRead(BaseModel):
    """An event type a subscription may name, and the JSON schema of its `data`."""

    type: str
    description: str
    data_schema: dict[str, Any] = Field(serialization_alias="schema")


class EventTypeList(BaseModel):
    items: list[EventTypeRead]


class DeliveryRead(BaseModel):
    """One event sent (or to be sent) to one subscription."""

    model_config = ConfigDict(from_attributes=True)

    id: str = Field(description="Also the `webhook-id` header of every attempt.")
    subscription_id: str
    event_id: str
    event_type: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    last_latency_ms: float | None
    succeeded_at: datetime | None
    profile_ids: list[str]
    created_at: datetime


DeliveryPage = Page[DeliveryRead]


class ReplayResult(BaseModel):
    """How many deliveries were queued again."""

    replayed: int
