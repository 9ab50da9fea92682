"""engagement's API models."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from services.engagement.models import Priority, Status
from shared.pagination import Page


class MessageRead(BaseModel):
    """One post of a conversation."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    conversation_id: str
    mention_id: str
    direction: Literal["inbound", "outbound"]
    platform: str
    text: str
    intent: str
    sentiment_label: str
    posted_at: datetime
    created_at: datetime
    redacted: bool = False


class ConversationRead(BaseModel):
    """A conversation as listed."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    profile_id: str
    status: Status
    priority: Priority
    assignee_id: str | None
    first_mention_id: str
    opened_at: datetime
    created_at: datetime
    updated_at: datetime


class ConversationDetail(ConversationRead):
    """A conversation with its messages, oldest first."""

    messages: list[MessageRead]


ConversationPage = Page[ConversationRead]


class AgentRead(BaseModel):
    """An agent as engagement's routing sees it."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    display_name: str | None
    active: bool
    last_assigned_at: datetime | None
    created_at: datetime


AgentPage = Page[AgentRead]
