"""profiles' request and response models."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.events.contracts import Intent, LifecycleStage, SentimentLabel
from shared.pagination import Page

IdentifierKind = Literal["handle", "platform_user_id", "email", "phone", "website", "external_id"]


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


class IdentifierRead(BaseModel):
    """An identifier on a profile and the evidence of the link."""

    id: str
    profile_id: str
    kind: str
    namespace: str
    value: str
    value_normalised: str
    evidence: str
    confidence: float
    source: str
    created_at: datetime


class IdentifierList(BaseModel):
    items: list[IdentifierRead]


class IdentifierCreate(BaseModel):
    """An identifier an agent attaches to a profile.

    `namespace`: the platform for a handle or platform user id, the partner's system for an external id,
    empty otherwise. `evidence` `verified` (the agent checked it) or `agent` (the agent's decision) on an
    identifier strongly attached to another profile merges that profile into this one; `unverified` never
    merges."""

    model_config = ConfigDict(extra="forbid")

    kind: IdentifierKind
    namespace: str = Field(default="", max_length=64)
    value: str = Field(min_length=1, max_length=320)
    evidence: Literal["verified", "agent", "unverified"] = "agent"
    confidence: float = Field(default=1.0, ge=0, le=1)


class MergeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    other_id: str = Field(min_length=1, max_length=64)


class UnmergeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    identifier_ids: list[str] = Field(min_length=1, max_length=100)


class MergeResult(BaseModel):
    """The merge: the survivor as it is now."""

    merge_id: str
    profile: ProfileRead


class UnmergeResult(BaseModel):
    """The profile split from and the one the identifiers went to, as they are now."""

    merge_id: str | None = None
    profile: ProfileRead
    restored: ProfileRead


class MatchEvidence(BaseModel):
    signal: Literal["name", "handle", "bio", "link"]
    detail: str
    score: float


class MatchSuggestionRead(BaseModel):
    """Another profile that may be the same person (`candidate_id`), with the score and its evidence."""

    id: str
    profile_id: str
    candidate_id: str
    score: float
    evidence: list[MatchEvidence]
    status: Literal["open", "accepted", "rejected"]
    decided_by: str | None = None
    decided_at: datetime | None = None
    created_at: datetime


class MatchSuggestionList(BaseModel):
    items: list[MatchSuggestionRead]
