"""metrics' API models. The field descriptions are the definitions of docs/metrics.md, word for word."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# The definitions, once: the API's descriptions and docs/metrics.md (a test checks they agree).
DEFINITIONS: dict[str, str] = {
    "period": "The period is [from, to): from inclusive, to exclusive, as timestamps (UTC when no offset is "
    "given). `to` defaults to now and is also when the figures are measured: a reply or resolution after "
    "it is not counted yet.",
    "mentions": "Mentions posted in the period (their time on the platform), with their latest analysis; a "
    "post removed from its platform leaves every figure.",
    "net_sentiment": "Net sentiment = (positive - negative) / (positive + negative) mentions, in percent "
    "(-100 to 100); null without positive or negative mentions.",
    "share_of_voice": "Share of voice = brand query matches / (brand + competitor query matches) of the "
    "period's mentions, in percent; a mention matching two brand queries counts twice.",
    "top_topics": "Top topics: the tenant's topic queries (listening queries of kind `topic`) by how many "
    "of the period's mentions matched them, most first (ties by query id), at most 10.",
    "top_hashtags": "Top hashtags: the #hashtags of the period's mentions' text (case-folded, without `#`, "
    "counted once per mention) by how many mentions used them, most first (ties by tag), at most 10.",
    "alerts": "Alerts raised on listening queries for buckets starting in the period.",
    "conversations": "Conversations opened in the period (when their first inbound message reached "
    "Rapport), not merged into another; `assigned` those with an agent, `per_agent` by their agent now; "
    "`backlog` every conversation opened before `to` that is not resolved or closed now.",
    "first_response": "First response time runs from when a conversation's first inbound message reached "
    "Rapport to the first public reply the platform confirmed as sent, for conversations opened in the "
    "period. Conversations without one are pending (`pending`), never zero. Where the conversation's SLA "
    "runs in its team's business hours, only the time inside those hours counts (a row's `clock` says "
    "`business`; otherwise `wall`). Percentiles are nearest-rank (the smallest time with at least p % of "
    "the answered conversations at or below it), in minutes.",
    "resolution": "Resolution time runs from opening to resolution (the latest one: a reopened conversation "
    "is unresolved until resolved again), for conversations opened in the period; unresolved ones are "
    "`pending`. In business hours where the conversation's SLA runs in them, as for first response. "
    "Percentiles are nearest-rank, in minutes.",
    "sla": "SLA compliance is the share of conversations whose deadlines (first response, resolution) fell "
    "in the period and were met: each such deadline was met when the reply or resolution came at or "
    "before it.",
    "reopen": "Reopen rate = reopened / resolved: of the conversations first resolved in the period, the "
    "share the customer has reopened since.",
    "csat": "CSAT = answers of 4-5 / all CSAT answers (1-5) given in the period, in percent.",
    "nps": "NPS = % of answers 9-10 - % of answers 0-6 among NPS answers (0-10) given in the period.",
    "social_conversion": "Social conversion = of the profiles first seen on social in the period (not "
    "created by a partner's CRM; merged profiles count as one, first seen when the earliest was), the "
    "share whose first order came within the conversion window (a setting, 30 days by default) after.",
    "retention": "Retention = of the previous period's customers (an order in the period of the same "
    "length just before this one), the share who ordered again in this one; needs `from`.",
    "clv": "CLV = the mean of each customer's order total (a customer: a profile with an order, merged "
    "profiles counted once), by lifecycle stage now, in the tenant's currency; orders in other currencies "
    "are reported apart, per currency. Lifetime figures: not limited to the period.",
}


def _d(name: str) -> Any:
    return Field(description=DEFINITIONS[name])


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


class ShareOfVoice(BaseModel):
    brand: int = 0
    competitor: int = 0
    share: float | None = None


class TopicCount(BaseModel):
    query_id: str
    mentions: int


class HashtagCount(BaseModel):
    tag: str
    mentions: int


class Listening(BaseModel):
    mentions: MentionCounts = Field(default_factory=MentionCounts, description=DEFINITIONS["mentions"])
    net_sentiment: float | None = _d("net_sentiment")
    share_of_voice: ShareOfVoice = Field(
        default_factory=ShareOfVoice, description=DEFINITIONS["share_of_voice"]
    )
    top_topics: list[TopicCount] = Field(default_factory=list, description=DEFINITIONS["top_topics"])
    top_hashtags: list[HashtagCount] = Field(default_factory=list, description=DEFINITIONS["top_hashtags"])
    alerts: int = Field(default=0, description=DEFINITIONS["alerts"])


class ConversationCounts(BaseModel):
    opened: int = 0
    assigned: int = 0
    backlog: int = 0
    per_agent: dict[str, int] = Field(default_factory=dict)


class Durations(BaseModel):
    """`count` conversations with the time, `pending` without; nearest-rank percentiles in minutes."""

    count: int = 0
    pending: int = 0
    p50_minutes: float | None = None
    p90_minutes: float | None = None


class Sla(BaseModel):
    conversations: int = 0
    met: int = 0
    compliance: float | None = None


class Rate(BaseModel):
    """`count` of `base`, and `rate` = count / base in percent (null when `base` is 0)."""

    base: int = 0
    count: int = 0
    rate: float | None = None


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


class ClvGroup(BaseModel):
    """Customers, the sum of their order totals and its mean per customer (decimal strings)."""

    customers: int = 0
    total: str = "0.00"
    mean: str | None = None


class Clv(BaseModel):
    currency: str
    all: ClvGroup = Field(default_factory=ClvGroup)
    by_stage: dict[str, ClvGroup] = Field(default_factory=dict)
    other_currencies: dict[str, ClvGroup] = Field(default_factory=dict)


class Care(BaseModel):
    conversations: ConversationCounts = Field(
        default_factory=ConversationCounts, description=DEFINITIONS["conversations"]
    )
    first_response: Durations = Field(default_factory=Durations, description=DEFINITIONS["first_response"])
    resolution: Durations = Field(default_factory=Durations, description=DEFINITIONS["resolution"])
    sla: Sla = Field(default_factory=Sla, description=DEFINITIONS["sla"])
    reopen: Rate = Field(default_factory=Rate, description=DEFINITIONS["reopen"])


class Customer(BaseModel):
    csat: CsatScore = Field(default_factory=CsatScore, description=DEFINITIONS["csat"])
    nps: NpsScore = Field(default_factory=NpsScore, description=DEFINITIONS["nps"])
    profiles_first_seen: int = Field(default=0, description="Profiles first seen on social in the period.")
    social_conversion: Rate = Field(default_factory=Rate, description=DEFINITIONS["social_conversion"])
    conversion_window_days: int = 30
    retention: Rate = Field(default_factory=Rate, description=DEFINITIONS["retention"])
    clv: Clv = Field(description=DEFINITIONS["clv"])


class Scorecard(BaseModel):
    """The tenant's Social CRM scorecard over [from, to), with the filters it was asked for."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    from_: datetime | None = Field(default=None, alias="from", description=DEFINITIONS["period"])
    to: datetime
    listening: Listening
    care: Care
    customer: Customer


class SeriesPoint(BaseModel):
    start: datetime
    value: float | None = None


class Series(BaseModel):
    """One metric per UTC hour, day or ISO week (from Monday) of the period; each bucket's value is the
    metric over that bucket alone, with replies and resolutions measured at `to`."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    metric: str
    interval: str
    from_: datetime = Field(alias="from")
    to: datetime
    points: list[SeriesPoint]


class RowPage(BaseModel):
    """A page of a metric's drill-down rows (what the metric is computed from), in time then id order."""

    metric: str
    items: list[dict[str, Any]]
    next_cursor: str | None = None
