"""profiles' request and response models."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from email_validator import EmailNotValidError, validate_email
from fastapi import Query
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    field_validator,
)

from services.profiles.logic.normalise import (
    IdentifierKind,
    InvalidIdentifier,
    normalise_handle,
    normalise_phone,
    normalise_website,
)
from shared.events.contracts import Intent, LifecycleStage, SentimentLabel
from shared.pagination import Page
from shared.validation import Instant


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

# `?purpose=marketing` on a read of one person (their profile, their identifiers): the caller reads them
# for outreach, and the gateway decides the request for marketing instead of profiling (gateway/routes.py,
# `Processing.declarable`); past the gateway the answer is the same.
OutreachQuery = Annotated[
    Literal["marketing"] | None,
    Query(
        description="`marketing`: the person is read for outreach; the request is refused (451) without a "
        "lawful basis for marketing."
    ),
]


class SegmentMemberPage(Page[ProfileSummary]):
    """A page of a segment's members; with `purpose`, only those with a lawful basis for it."""

    purpose: Literal["marketing"] | None = Field(
        None, description="The processing purpose the members were listed for (`?purpose=`)."
    )
    withheld: int | None = Field(
        None,
        description="With `purpose`: how many members of this page were left out (no lawful basis for "
        "it: no consent, a withdrawal, an objection, a restriction). A page may then hold fewer items "
        "than `limit`; follow `next_cursor` to the end.",
    )


# --- orders and partner (CRM) sync --------------------------------------------------------------

# A partner's system name (the namespace of its external ids) and one of its ids.
SYSTEM_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
SystemName = Annotated[str, StringConstraints(pattern=SYSTEM_PATTERN)]
ExternalId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
# Orders of more than a trillion in any currency are refused (amount_e4 stays well inside 64 bits).
MAX_AMOUNT = Decimal("1000000000000")


def _amount(value: Any) -> Decimal:
    """A positive decimal with at most 4 places, from a decimal string or a JSON number."""
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise ValueError("must be a decimal string or a number")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError("not a decimal number") from None
    if not amount.is_finite() or amount <= 0:
        raise ValueError("must be greater than 0")
    if amount >= MAX_AMOUNT:
        raise ValueError(f"must be less than {MAX_AMOUNT}")
    if -amount.as_tuple().exponent > 4:  # type: ignore[operator]
        raise ValueError("at most 4 decimal places")
    return amount


Amount = Annotated[
    Decimal, BeforeValidator(_amount), WithJsonSchema({"type": "string", "examples": ["49.90"]})
]


class OrderCreate(BaseModel):
    """An order of the customer, as the partner's shop knows it; `order_id` is unique in the tenant."""

    model_config = ConfigDict(extra="forbid")

    order_id: ExternalId
    amount: Amount = Field(
        description="A decimal string (or number) greater than 0, at most 4 decimal places."
    )
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{3}$")] = Field(
        description="ISO 4217 code (`EUR`, `usd`: upper-cased)."
    )
    ordered_at: Instant

    @field_validator("currency")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()


class OrderRead(BaseModel):
    id: str
    profile_id: str
    order_id: str
    # A decimal string: exact, at least 2 decimal places.
    amount: str
    currency: str
    ordered_at: datetime
    created_at: datetime


class HandleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    platform: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]
    handle: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=101)]

    @field_validator("handle")
    @classmethod
    def _handle(cls, value: str) -> str:
        if not normalise_handle(value):
            raise ValueError("an empty handle")
        return value


AttributeValue = str | int | float | bool | None
AttributeName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class ProfileUpsert(BaseModel):
    """What a partner's CRM knows of a customer. Absent fields are left as they are; identifiers and
    tags are added (never removed); an attribute set to null is removed."""

    model_config = ConfigDict(extra="forbid")

    display_name: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)] | None
    ) = None
    email: Annotated[str, StringConstraints(strip_whitespace=True, max_length=320)] | None = None
    phone: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] | None = Field(
        default=None, description="E.164 or with a leading `+` and country code."
    )
    website: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=320)] | None = (
        None
    )
    handles: list[HandleIn] = Field(default_factory=list, max_length=20)
    attributes: dict[AttributeName, AttributeValue] = Field(default_factory=dict, max_length=50)
    tags: list[Tag] = Field(default_factory=list, max_length=50)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            validate_email(value, check_deliverability=False)
        except EmailNotValidError:
            raise ValueError("not a valid e-mail address") from None
        return value

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            normalise_phone(value)
        except InvalidIdentifier:
            raise ValueError("not a phone number in E.164 (+ and country code)") from None
        return value

    @field_validator("website")
    @classmethod
    def _website(cls, value: str | None) -> str | None:
        if value is not None and not normalise_website(value):
            raise ValueError("an empty website")
        return value


class ImportLine(ProfileUpsert):
    """One line of a JSON Lines import: an upsert body with the partner's system and external id."""

    system: SystemName
    external_id: ExternalId


class ImportReport(BaseModel):
    """The last line of an import's NDJSON report."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    lines: int = 0


OrderPage = Page[OrderRead]


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
