"""profiles' request and response models."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

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


# --- custom attributes, tags, notes, segments ----------------------------------------------------------

AttributeType = Literal["string", "number", "boolean", "date", "enum"]


class AttributeDefinitionCreate(BaseModel):
    """A custom attribute of the tenant's profiles: a snake_case name and a type (`enum` lists options)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    type: AttributeType
    options: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(default=[], max_length=100)


class AttributeDefinitionRead(BaseModel):
    id: str
    name: str
    type: AttributeType
    options: list[str] = []
    created_at: datetime


class TagChanges(BaseModel):
    model_config = ConfigDict(extra="forbid")

    add: list[Annotated[str, Field(max_length=200)]] = Field(default=[], max_length=100)
    remove: list[Annotated[str, Field(max_length=200)]] = Field(default=[], max_length=100)


class ProfileUpdate(BaseModel):
    """Changes to a profile: custom attribute values (null removes one), tags to add and remove, and the
    display name (null clears it). Fields left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    attributes: dict[Annotated[str, Field(max_length=64)], Any] | None = Field(default=None, max_length=100)
    tags: TagChanges | None = None
    display_name: Annotated[str, Field(min_length=1, max_length=200)] | None = None


class NoteCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: str = Field(min_length=1, max_length=5000)


class NoteRead(BaseModel):
    id: str
    profile_id: str
    author_id: str
    body: str
    created_at: datetime


class SegmentCreate(BaseModel):
    """A named rule over profile fields (the rule language: docs/architecture.md, "Segments")."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    rule: str = Field(min_length=1, max_length=2000)


class SegmentRead(BaseModel):
    id: str
    name: str
    rule: str
    member_count: int
    created_at: datetime
    updated_at: datetime


class ProfileSummary(BaseModel):
    """A profile as a segment's member list shows it."""

    id: str
    display_name: str | None = None
    lifecycle_stage: LifecycleStage
    at_risk: bool = False
    sentiment_trend: float = 0.0
    influence: float = 0.0
    followers: int | None = None
    mention_count: int = 0
    order_count: int = 0
    lifetime_value: dict[str, str] = {}
    tags: list[str] = []
    first_seen_at: datetime
    last_seen_at: datetime


AttributeDefinitionPage = Page[AttributeDefinitionRead]
NotePage = Page[NoteRead]
SegmentPage = Page[SegmentRead]
ProfileSummaryPage = Page[ProfileSummary]
