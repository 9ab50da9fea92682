"""engagement's API models."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from services.engagement.models import Priority, Status
from shared.pagination import Page


def _normal_label(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


# A label: lower case letters, digits, `.`, `:` and `-` (no LIKE wildcards, no quotes); stored lower case.
Label = Annotated[
    str, BeforeValidator(_normal_label), StringConstraints(pattern=r"^[a-z0-9][a-z0-9.:-]{0,39}$")
]
LABELS_MAX = 20


class MessageRead(BaseModel):
    """One post of a conversation."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    conversation_id: str
    # listening's mention (inbound messages); None for outbound ones.
    mention_id: str | None = None
    direction: Literal["inbound", "outbound"]
    platform: str
    text: str
    intent: str | None = None
    sentiment_label: str | None = None
    posted_at: datetime
    created_at: datetime
    redacted: bool = False
    # The platform's id of the post (inbound: the customer's post; outbound: once sent).
    external_id: str | None = None
    # Outbound: who wrote it, why it went ("agent", "auto_ack", "survey"; "platform": the brand posted
    # from the platform's own app), and its delivery (queued, sent, failed with listening's code and why).
    author_id: str | None = None
    origin: str | None = None
    status: Literal["queued", "sent", "failed"] | None = None
    platform_message_id: str | None = None
    error_code: str | None = None
    error: str | None = None
    error_retryable: bool | None = None
    sent_at: datetime | None = None


class ConversationRead(BaseModel):
    """A conversation as listed."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    profile_id: str
    status: Status
    priority: Priority
    priority_reason: str | None = None
    assignee_id: str | None
    team_id: str | None = None
    channel_id: str | None = None
    first_mention_id: str
    first_response_at: datetime | None = None
    first_response_due_at: datetime | None = None
    resolution_due_at: datetime | None = None
    labels: list[str] = Field(default_factory=list)
    snoozed_until: datetime | None = None
    resolved_at: datetime | None = None
    reopen_count: int = 0
    platform: str | None = None
    language: str | None = None
    customer_display_name: str | None = None
    customer_handle: str | None = None
    last_message_excerpt: str | None = None
    last_message_at: datetime | None = None
    opened_at: datetime
    created_at: datetime
    updated_at: datetime

    @field_validator("labels", mode="before")
    @classmethod
    def _labels(cls, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value


class NoteRead(BaseModel):
    """An internal note on a conversation."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    conversation_id: str
    author_id: str
    body: str
    created_at: datetime


class NoteCreate(BaseModel):
    """An internal note: seen by the tenant's staff, never by the customer."""

    model_config = ConfigDict(extra="forbid")

    body: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000)]


class StatusChangeRead(BaseModel):
    """One status move of a conversation."""

    model_config = ConfigDict(from_attributes=True)

    from_status: Status
    to_status: Status
    cause: Literal["agent", "snooze", "customer"]
    by_user_id: str | None
    created_at: datetime


class ConversationDetail(ConversationRead):
    """A conversation with its messages, notes and status history, oldest first."""

    messages: list[MessageRead]
    notes: list[NoteRead] = Field(default_factory=list)
    status_history: list[StatusChangeRead] = Field(default_factory=list)


def _distinct(labels: list[str]) -> list[str]:
    return sorted(set(labels))


class LabelChange(BaseModel):
    """Labels to add and to remove."""

    model_config = ConfigDict(extra="forbid")

    add: Annotated[list[Label], Field(max_length=LABELS_MAX), AfterValidator(_distinct)] = []
    remove: Annotated[list[Label], Field(max_length=LABELS_MAX), AfterValidator(_distinct)] = []


class ConversationUpdate(BaseModel):
    """Fields to change; those left out keep their value.

    `snoozed_until` (a future time with its offset) goes with `status` "snoozed", or alone (it then
    snoozes); `assignee_id` null unassigns.
    """

    model_config = ConfigDict(extra="forbid")

    status: Status | None = None
    priority: Priority | None = None
    labels: LabelChange | None = None
    snoozed_until: AwareDatetime | None = None
    assignee_id: str | None = Field(default=None, min_length=1, max_length=64)


ConversationPage = Page[ConversationRead]
NotePage = Page[NoteRead]


class AgentRead(BaseModel):
    """An agent as engagement's routing sees it."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    display_name: str | None
    active: bool
    last_assigned_at: datetime | None
    created_at: datetime


AgentPage = Page[AgentRead]
