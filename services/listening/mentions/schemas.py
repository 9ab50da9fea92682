"""listening's request and response models."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.events.contracts import Intent, SentimentLabel
from shared.pagination import Page
from shared.validation import Count, Instant, Text

MAX_TEXT = 10_000


class AuthorIn(BaseModel):
    """Who wrote the post, as the platform names them."""

    model_config = ConfigDict(extra="forbid")

    # Something besides `@` and spaces: profiles match handles without them.
    handle: Text = Field(min_length=1, max_length=100, pattern=r"[^\s@]")
    display_name: Text | None = Field(default=None, max_length=200)
    followers: Count | None = None
    # The platform's stable user id, when it gives one (platform compliance erasures find posts by it).
    id: Text | None = Field(default=None, min_length=1, max_length=128)
    verified: bool = False


class EngagementIn(BaseModel):
    """The post's own reach so far, as the platform counts it."""

    model_config = ConfigDict(extra="forbid")

    likes: Count = 0
    reposts: Count = 0
    replies: Count = 0


class MentionCreate(BaseModel):
    """A post to ingest; `(platform, external_id)` identifies it for de-duplication."""

    model_config = ConfigDict(extra="forbid")

    platform: str = Field(min_length=1, max_length=32, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    external_id: Text = Field(min_length=1, max_length=128)
    text: Text = Field(min_length=1, max_length=MAX_TEXT)
    created_at: Instant
    url: Text | None = Field(default=None, max_length=2048, pattern=r"^https?://")
    author: AuthorIn
    in_reply_to: Text | None = Field(default=None, min_length=1, max_length=128)
    # What the post is: a public post, a comment, a private message (answered privately), a review.
    kind: Literal["post", "comment", "message", "review"] | None = None
    # Star rating of a review (1-5).
    rating: int | None = Field(default=None, ge=1, le=5)
    engagement: EngagementIn | None = None


class MentionAccepted(BaseModel):
    """The id of the stored mention, and whether this request stored it or it was already there.

    `brand_post`: the author is one of the tenant's own accounts (`/v1/own-accounts`, its channels'
    accounts): the post is not a mention; it was published as the brand's own post (`id`: that event's).
    `suppressed`: the author's data was erased at their request: the post is counted, anonymously (no
    text, no author), and not analysed or announced."""

    id: str
    status: Literal["accepted", "duplicate", "brand_post", "suppressed"]


MAX_BATCH = 500


class MentionBatch(BaseModel):
    """Up to `MAX_BATCH` posts in one request; one invalid post rejects the whole request (422)."""

    model_config = ConfigDict(extra="forbid")

    mentions: list[MentionCreate] = Field(min_length=1, max_length=MAX_BATCH)


class MentionBatchAccepted(BaseModel):
    """One answer per posted mention, in the request's order, and the totals."""

    results: list[MentionAccepted]
    accepted: int
    duplicates: int


class AuthorRead(BaseModel):
    handle: str
    display_name: str | None = None
    followers: int | None = None
    verified: bool = False
    # 0-100: audience, verification and the post's engagement (services/listening/mentions/influence.py).
    influence: float = 0.0


class SentimentRead(BaseModel):
    label: SentimentLabel
    score: float
    confidence: float | None = None


class AnalysisRead(BaseModel):
    """The effective analysis: by the `fast` or `quality` tier, or `human` when an agent corrected it."""

    language: str
    language_confidence: float | None = None
    language_variant: str | None = None
    sentiment: SentimentRead
    intent: Intent
    intent_confidence: float | None = None
    tier: str
    low_confidence: bool = False
    needs_rescore: bool = False


class MentionRead(BaseModel):
    """A stored mention with its analysis."""

    id: str
    platform: str
    external_id: str
    text: str
    created_at: datetime
    received_at: datetime
    url: str | None = None
    author: AuthorRead
    in_reply_to: str | None = None
    analysis_status: Literal["pending", "analysing", "analysed"] = "analysed"
    analysis: AnalysisRead | None = None
    rating: int | None = None
    # Set when the platform deleted or withheld the post or erased its author: the text is gone.
    redacted_at: datetime | None = None
    redaction_reason: str | None = None
    edited_at: datetime | None = None
    # Reposts and near-copies of one text share a group: the id of its first mention.
    group_id: str | None = None
    # The listening queries the mention matched when it was analysed.
    matched_query_ids: list[str] = Field(default_factory=list)


MentionPage = Page[MentionRead]


class LabelCreate(BaseModel):
    """An agent's correction of a mention's analysis; at least one field."""

    model_config = ConfigDict(extra="forbid")

    sentiment: SentimentLabel | None = None
    intent: Intent | None = None
    language: str | None = Field(
        default=None, min_length=2, max_length=16, pattern=r"^[a-z]{2,3}(-[a-z0-9]{2,8})?$"
    )

    @model_validator(mode="after")
    def _at_least_one(self) -> LabelCreate:
        if self.sentiment is None and self.intent is None and self.language is None:
            raise ValueError("give at least one of sentiment, intent, language")
        return self


class LabelRead(BaseModel):
    """One stored correction (labelled data of the tenant)."""

    id: str
    mention_id: str
    user_id: str
    sentiment: SentimentLabel | None = None
    intent: Intent | None = None
    language: str | None = None
    created_at: datetime
    text: str | None = None


LabelPage = Page[LabelRead]


class MentionStats(BaseModel):
    """The analysis backlog of the tenant."""

    pending: int
    needs_rescore: int
    analysed: int


class ImportError_(BaseModel):
    line: int
    error: str


class ImportSummary(BaseModel):
    """The outcome of a bulk import: good lines kept, bad ones listed (the first 100) with line numbers."""

    lines: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    errors: list[ImportError_] = Field(default_factory=list)
    # The tenant's hourly ingest quota ran out: this line and those after it were not stored.
    stopped_at_line: int | None = None
