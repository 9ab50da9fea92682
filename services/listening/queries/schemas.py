"""Request and response models of listening queries and their alerts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.pagination import Page

QueryKind = Literal["brand", "competitor", "topic"]
LanguageCode = Annotated[
    str, Field(min_length=2, max_length=16, pattern=r"^[A-Za-z]{2,8}(?:[-_][A-Za-z0-9]{1,8})*$")
]
MAX_EXPRESSION = 4_000


class ListeningQueryCreate(BaseModel):
    """A boolean query over incoming mentions, e.g. `(acme OR "acme corp") AND NOT job*`."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    kind: QueryKind
    expression: str = Field(min_length=1, max_length=MAX_EXPRESSION)
    languages: list[LanguageCode] | None = Field(default=None, max_length=20)
    active: bool = True


class ExpressionCheck(BaseModel):
    """An expression to check without storing anything (the query editor's check as the user types)."""

    model_config = ConfigDict(extra="forbid")

    expression: str = Field(min_length=1, max_length=MAX_EXPRESSION)


class ExpressionChecked(BaseModel):
    """A valid expression and its normal form (an invalid one is a 422 with the error's position)."""

    valid: Literal[True] = True
    normalised: str


class ListeningQueryUpdate(BaseModel):
    """The fields to change; `languages: null` or `[]` lifts the language restriction."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    kind: QueryKind | None = None
    expression: str | None = Field(default=None, min_length=1, max_length=MAX_EXPRESSION)
    languages: list[LanguageCode] | None = Field(default=None, max_length=20)
    active: bool | None = None


class BackfillRead(BaseModel):
    """Matching the query against posts analysed before it existed (or before it last changed)."""

    status: Literal["running", "done", "stopped"]
    scanned: int
    matched: int
    since: datetime | None = None
    finished_at: datetime | None = None


class ListeningQueryRead(BaseModel):
    """A stored listening query; `normalised` is the expression as the parser understood it.

    `backfill` follows the matching of already-analysed posts (the last `query_backfill_days`), started
    when the query is created, activated, or its expression or languages change; null before any.
    """

    id: str
    name: str
    kind: QueryKind
    expression: str
    normalised: str
    languages: list[str]
    active: bool
    created_at: datetime
    updated_at: datetime
    backfill: BackfillRead | None = None


ListeningQueryPage = Page[ListeningQueryRead]


class MatchFlagRead(BaseModel):
    """A post whose query matching ran out of its time budget: it matched only the queries decided."""

    mention_id: str
    status: Literal["budget_exceeded"]
    queries: int
    decided: int
    created_at: datetime


class QueryUsage(BaseModel):
    """The tenant's listening queries against its cap, the cost limits a query must keep within, and
    the posts whose matching ran out of budget (`recent_budget_exceeded`: the newest, at most 20)."""

    queries: int
    active: int
    max_queries: int
    limits: dict[str, int]
    match_budget_ms: float
    budget_exceeded: int
    recent_budget_exceeded: list[MatchFlagRead]


class QueryBucketRead(BaseModel):
    """The query's matched mentions in one hour of post time, and how many of them are negative."""

    bucket_start: datetime
    total: int
    negative: int


class QueryVolume(BaseModel):
    """A query's hourly volume, oldest hour first; hours without mentions are left out."""

    query_id: str
    items: list[QueryBucketRead]


class VoiceShare(BaseModel):
    """One query's part of the conversation in the period."""

    query_id: str
    name: str
    kind: QueryKind
    mentions: int
    negative: int
    # mentions / all listed queries' mentions (0 when there are none)
    share: float
    # negative / mentions (None without mentions)
    negative_share: float | None


class ShareOfVoice(BaseModel):
    """Active queries of the asked kinds, most mentioned first, over whole hours of post time.

    A post matching two queries counts for both, so `total` is the sum of the queries' mentions."""

    since: datetime
    until: datetime
    total: int
    items: list[VoiceShare]


class AlertRead(BaseModel):
    """A spike of a query's volume or negative share (observed vs baseline over the previous 24 hours)."""

    id: str
    query_id: str
    kind: Literal["volume", "negative_share"]
    observed: float
    baseline: float
    score: float
    bucket_start: datetime
    created_at: datetime
    # Set once someone acknowledged the alert (`POST /v1/listening/alerts/{id}/acknowledge`).
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None


AlertPage = Page[AlertRead]
