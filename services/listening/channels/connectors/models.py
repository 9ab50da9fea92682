"""The normalised shapes every connector produces, whatever the platform said."""

from __future__ import annotations

import hashlib
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.validation import MAX_COUNT, Instant

# Same bounds as the ingest API (services/listening/mentions/schemas.py), so a parsed mention always fits it.
MAX_TEXT = 10_000
MAX_ID = 128
MAX_HANDLE = 100
MAX_DISPLAY_NAME = 200
MAX_URL = 2048

Platform = Literal[
    "facebook", "instagram", "messenger", "whatsapp", "x", "mastodon", "bluesky", "rss", "reviews"
]
MentionKind = Literal["post", "comment", "message", "review"]
ComplianceKind = Literal["delete", "edit", "withheld", "user_delete"]

# C0 controls other than tab and newline (and NUL, which PostgreSQL text refuses) never carry meaning.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_text(value: str, limit: int = MAX_TEXT) -> str:
    """Drop control characters, normalise newlines, trim, and cut to `limit` characters."""
    value = _CONTROL.sub("", value.replace("\r\n", "\n").replace("\r", "\n")).strip()
    return value[:limit].rstrip()


def bounded_id(value: str) -> str:
    """An id that fits the store: unchanged when short, else a stable digest of it (control characters
    dropped first: PostgreSQL refuses NUL, and no platform id carries one)."""
    value = _CONTROL.sub("", value).strip()
    if len(value) <= MAX_ID:
        return value
    return "sha256:" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def bounded_count(value: Any) -> Any:
    """A count the platform reported, capped at what the store holds (a bigger one is not a real count)."""
    if isinstance(value, int) and not isinstance(value, bool) and value > MAX_COUNT:
        return MAX_COUNT
    return value


def safe_url(value: Any) -> str | None:
    """An http(s) URL short enough to store, else None (javascript:, data: and the like are dropped)."""
    if not isinstance(value, str):
        return None
    url: str = value.strip()
    if len(url) > MAX_URL or "\x00" in url or not re.match(r"^https?://[^\s]+$", url, re.IGNORECASE):
        return None
    return url


class Author(BaseModel):
    """Who wrote it, as the platform names them; `id` is the platform's stable user id when it gives one."""

    model_config = ConfigDict(extra="forbid")

    handle: str = Field(min_length=1, max_length=MAX_HANDLE)
    id: str | None = Field(default=None, max_length=MAX_ID)
    display_name: str | None = Field(default=None, max_length=MAX_DISPLAY_NAME)
    followers: int | None = Field(default=None, ge=0, le=MAX_COUNT)
    verified: bool | None = None

    @field_validator("followers", mode="before")
    @classmethod
    def _followers(cls, value: Any) -> Any:
        return bounded_count(value)

    @field_validator("id", mode="before")
    @classmethod
    def _id(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        return bounded_id(value) if isinstance(value, str) else value

    @field_validator("handle", mode="before")
    @classmethod
    def _handle(cls, value: Any) -> Any:
        if isinstance(value, str):
            return clean_text(value, MAX_HANDLE).lstrip("@")
        return value

    @field_validator("display_name", mode="before")
    @classmethod
    def _display_name(cls, value: Any) -> Any:
        if isinstance(value, str):
            return clean_text(value, MAX_DISPLAY_NAME) or None
        return value


class Engagement(BaseModel):
    """Counts the platform reported when the post reached us."""

    model_config = ConfigDict(extra="forbid")

    likes: int = Field(default=0, ge=0, le=MAX_COUNT)
    reposts: int = Field(default=0, ge=0, le=MAX_COUNT)
    replies: int = Field(default=0, ge=0, le=MAX_COUNT)

    @field_validator("likes", "reposts", "replies", mode="before")
    @classmethod
    def _counts(cls, value: Any) -> Any:
        return bounded_count(value)


class InboundMention(BaseModel):
    """One post, comment, private message or review, normalised from any platform."""

    model_config = ConfigDict(extra="forbid")

    platform: Platform
    kind: MentionKind
    external_id: str = Field(min_length=1, max_length=MAX_ID)
    text: str = Field(min_length=1, max_length=MAX_TEXT)
    created_at: Instant
    author: Author
    url: str | None = Field(default=None, max_length=MAX_URL)
    in_reply_to: str | None = Field(default=None, max_length=MAX_ID)
    engagement: Engagement | None = None
    rating: int | None = Field(default=None, ge=1, le=5)
    # The language the platform or the author declared (BCP 47), a hint for detection, never trusted alone.
    lang_hint: str | None = Field(default=None, max_length=16, pattern=r"^[^\x00]*$")
    # A repost (retweet, boost) carries the reposted post's id; a quote carries the quoted post's id.
    reposted_id: str | None = Field(default=None, max_length=MAX_ID)
    quoted_id: str | None = Field(default=None, max_length=MAX_ID)
    # The brand's own account on the platform this was delivered for (page, IG user, phone number, X user).
    account_id: str | None = Field(default=None, max_length=MAX_ID)
    # Written by that account itself (the brand's own post, reply or message echo).
    own: bool = False

    @field_validator("text", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return clean_text(value) if isinstance(value, str) else value

    @field_validator("external_id", "in_reply_to", "reposted_id", "quoted_id", "account_id", mode="before")
    @classmethod
    def _ids(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        return bounded_id(value) if isinstance(value, str) else value

    @field_validator("url", mode="before")
    @classmethod
    def _url(cls, value: Any) -> Any:
        return safe_url(value)

    def as_ingest(self) -> dict[str, Any]:
        """The mention in the ingest API's `MentionCreate` shape (JSON-ready)."""
        author: dict[str, Any] = {"handle": self.author.handle}
        if self.author.display_name is not None:
            author["display_name"] = self.author.display_name
        if self.author.followers is not None:
            author["followers"] = self.author.followers
        if self.author.verified:
            author["verified"] = True
        body: dict[str, Any] = {
            "platform": self.platform,
            "external_id": self.external_id,
            "text": self.text,
            "created_at": self.created_at.isoformat(),
            "url": self.url,
            "author": author,
            "in_reply_to": self.in_reply_to,
        }
        if self.engagement is not None:
            body["engagement"] = self.engagement.model_dump()
        return body


class ComplianceEvent(BaseModel):
    """The platform says a stored post must change: deleted, edited, withheld, or its author is gone."""

    model_config = ConfigDict(extra="forbid")

    kind: ComplianceKind
    platform: Platform
    external_id: str | None = Field(default=None, max_length=MAX_ID)
    author_id: str | None = Field(default=None, max_length=MAX_ID)
    # For edits: the new text when the platform sends it, and the new version's id when it has one (X).
    text: str | None = Field(default=None, max_length=MAX_TEXT)
    new_external_id: str | None = Field(default=None, max_length=MAX_ID)
    # For withholdings: ISO country codes; empty means everywhere.
    countries: list[str] = Field(default_factory=list)
    occurred_at: Instant | None = None

    @field_validator("external_id", "author_id", "new_external_id", mode="before")
    @classmethod
    def _ids(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        return bounded_id(value) if isinstance(value, str) else value

    @field_validator("text", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return clean_text(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _target(self) -> ComplianceEvent:
        if self.kind == "user_delete":
            if not self.author_id:
                raise ValueError("a user_delete names the author_id")
        elif not self.external_id:
            raise ValueError(f"a {self.kind} names the external_id")
        return self


class MentionReference(BaseModel):
    """The platform only told us an id (Instagram @mentions): the text must be fetched with its API."""

    model_config = ConfigDict(extra="forbid")

    platform: Platform
    kind: MentionKind
    external_id: str = Field(min_length=1, max_length=MAX_ID)
    parent_id: str | None = Field(default=None, max_length=MAX_ID)
    account_id: str | None = Field(default=None, max_length=MAX_ID)


class ParseResult(BaseModel):
    """Everything one delivery (or one pulled page) contained, plus how many items were unusable."""

    mentions: list[InboundMention] = Field(default_factory=list)
    compliance: list[ComplianceEvent] = Field(default_factory=list)
    references: list[MentionReference] = Field(default_factory=list)
    skipped: int = 0

    def extend(self, other: ParseResult) -> None:
        """Append another result's items to this one."""
        self.mentions.extend(other.mentions)
        self.compliance.extend(other.compliance)
        self.references.extend(other.references)
        self.skipped += other.skipped


class PayloadError(ValueError):
    """The delivery is not the platform's documented shape at all (not a skippable bad item)."""
