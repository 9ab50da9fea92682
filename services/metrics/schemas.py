"""metrics' API models."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field


class SentimentCounts(BaseModel):
    negative: int = 0
    neutral: int = 0
    positive: int = 0


class MentionCounts(BaseModel):
    total: int = 0
    by_sentiment: SentimentCounts = Field(default_factory=SentimentCounts)
    by_language: dict[str, int] = Field(default_factory=dict)
    by_intent: dict[str, int] = Field(default_factory=dict)
    by_platform: dict[str, int] = Field(default_factory=dict)


class ProfileCounts(BaseModel):
    created: int = 0


class ConversationCounts(BaseModel):
    opened: int = 0
    assigned: int = 0


class CsatScore(BaseModel):
    """CSAT answers (1-5): `score` is the percentage of 4s and 5s (null without answers)."""

    answers: int = 0
    satisfied: int = 0
    score: float | None = None
    by_score: dict[str, int] = Field(default_factory=dict)


class NpsScore(BaseModel):
    """NPS answers (0-10): `score` is % promoters (9-10) minus % detractors (0-6), -100..100 (null without
    answers)."""

    answers: int = 0
    promoters: int = 0
    passives: int = 0
    detractors: int = 0
    score: float | None = None
    by_score: dict[str, int] = Field(default_factory=dict)


class SurveyScores(BaseModel):
    csat: CsatScore = Field(default_factory=CsatScore)
    nps: NpsScore = Field(default_factory=NpsScore)


class Scorecard(BaseModel):
    """The tenant's Social CRM scorecard over UTC days `from`..`to` (inclusive; null = unbounded)."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    from_: date | None = Field(default=None, alias="from")
    to: date | None = None
    mentions: MentionCounts = Field(default_factory=MentionCounts)
    profiles: ProfileCounts = Field(default_factory=ProfileCounts)
    conversations: ConversationCounts = Field(default_factory=ConversationCounts)
    surveys: SurveyScores = Field(default_factory=SurveyScores)
