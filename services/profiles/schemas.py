"""profiles' response models."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from shared.events.contracts import Intent, SentimentLabel
from shared.pagination import Page


class HandleRead(BaseModel):
    platform: str
    handle: str


class ProfileSentiment(BaseModel):
    """The mean sentiment score of the profile's mentions (-1..1) and the label of the latest one."""

    average: float | None = None
    last_label: SentimentLabel | None = None


class ProfileRead(BaseModel):
    """A customer profile with its handles and counters."""

    id: str
    display_name: str | None = None
    handles: list[HandleRead]
    followers: int | None = None
    influence: float = 0.0
    mention_count: int
    sentiment: ProfileSentiment
    lifecycle_stage: str
    first_seen_at: datetime
    last_seen_at: datetime
    created_at: datetime


class InteractionRead(BaseModel):
    """One mention on a profile's timeline."""

    id: str
    profile_id: str
    mention_id: str
    platform: str
    intent: Intent
    sentiment_label: SentimentLabel
    sentiment_score: float
    occurred_at: datetime
    created_at: datetime
    redacted: bool = False


ProfilePage = Page[ProfileRead]
InteractionPage = Page[InteractionRead]
