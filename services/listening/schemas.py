"""listening's request and response models."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.events.contracts import Intent, SentimentLabel
from shared.pagination import Page

MAX_TEXT = 10_000


class AuthorIn(BaseModel):
    """Who wrote the post, as the platform names them."""

    model_config = ConfigDict(extra="forbid")

    # Something besides `@` and spaces: profiles match handles without them.
    handle: str = Field(min_length=1, max_length=100, pattern=r"[^\s@]")
    display_name: str | None = Field(default=None, max_length=200)
    followers: int | None = Field(default=None, ge=0)


class MentionCreate(BaseModel):
    """A post to ingest; `(platform, external_id)` identifies it for de-duplication."""

    model_config = ConfigDict(extra="forbid")

    platform: str = Field(min_length=1, max_length=32, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    external_id: str = Field(min_length=1, max_length=128)
    text: str = Field(min_length=1, max_length=MAX_TEXT)
    created_at: AwareDatetime
    url: str | None = Field(default=None, max_length=2048, pattern=r"^https?://")
    author: AuthorIn
    in_reply_to: str | None = Field(default=None, min_length=1, max_length=128)


class MentionAccepted(BaseModel):
    """The id of the stored mention, and whether this request stored it or it was already there."""

    id: str
    status: Literal["accepted", "duplicate"]


class AuthorRead(BaseModel):
    handle: str
    display_name: str | None = None
    followers: int | None = None


class SentimentRead(BaseModel):
    label: SentimentLabel
    score: float


class AnalysisRead(BaseModel):
    language: str
    sentiment: SentimentRead
    intent: Intent
    tier: str


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
    analysis: AnalysisRead


MentionPage = Page[MentionRead]
