"""profiles' request and response models."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from shared.events.contracts import Intent, LifecycleStage, SentimentLabel
from shared.pagination import Page


class HandleRead(BaseModel):
    platform: str
    handle: str


class ProfileSentiment(BaseModel):
    """The mean sentiment score of the profile's mentions (-1..1), its recent-weighted trend and the label
    of the latest one."""

    average: float | None = None
    trend: float = 0.0
    last_label: SentimentLabel | None = None


class ProfileRead(BaseModel):
    """A customer profile with its handles, counters and enrichment.

    A profile merged into another answers with `merged_into` naming the survivor."""

    id: str
    display_name: str | None = None
    bio: str | None = None
    handles: list[HandleRead]
    followers: int | None = None
    influence: float = 0.0
    mention_count: int
    sentiment: ProfileSentiment
    intent_counts: dict[str, int] = {}
    languages: list[str] = []
    lifecycle_stage: LifecycleStage
    at_risk: bool = False
    order_count: int = 0
    # {currency: "decimal string"}
    lifetime_value: dict[str, str] = {}
    attributes: dict[str, Any] = {}
    tags: list[str] = []
    merged_into: str | None = None
    first_seen_at: datetime
    last_seen_at: datetime
    created_at: datetime
    updated_at: datetime


class InteractionRead(BaseModel):
    """One interaction on a profile's timeline, with its text excerpt and links."""

    id: str
    profile_id: str
    kind: str
    ref_id: str
    # The mention's id when `kind` is mention.
    mention_id: str | None = None
    platform: str | None = None
    channel_id: str | None = None
    intent: Intent | None = None
    sentiment_label: SentimentLabel | None = None
    sentiment_score: float | None = None
    language: str | None = None
    excerpt: str | None = None
    links: dict[str, str] = {}
    occurred_at: datetime
    created_at: datetime
    redacted: bool = False


ProfilePage = Page[ProfileRead]
InteractionPage = Page[InteractionRead]
