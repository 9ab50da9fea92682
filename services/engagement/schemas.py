"""engagement's API models."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    computed_field,
    field_validator,
    model_validator,
)

from services.engagement.logic.hours import BusinessHours
from services.engagement.models import Priority, Status
from shared.events.contracts import ProfileSnapshot
from shared.pagination import Page


def _normal_label(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


# A label: lower case letters, digits, `.`, `:` and `-` (no LIKE wildcards, no quotes); stored lower case.
Label = Annotated[
    str, BeforeValidator(_normal_label), StringConstraints(pattern=r"^[a-z0-9][a-z0-9.:-]{0,39}$")
]
LABELS_MAX = 20


class MessageRead(BaseModel):
    """One post of a conversation."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    conversation_id: str
    # listening's mention (inbound messages); None for outbound ones.
    mention_id: str | None = None
    direction: Literal["inbound", "outbound"]
    platform: str
    text: str
    intent: str | None = None
    sentiment_label: str | None = None
    posted_at: datetime
    created_at: datetime
    redacted: bool = False
    # What the post is on its platform (post, comment, message: private, review), when known.
    kind: str | None = None
    # The platform's id of the post (inbound: the customer's post; outbound: once sent).
    external_id: str | None = None
    # Outbound: who wrote it, why it went ("agent", "auto_ack", "survey"; "platform": the brand posted
    # from the platform's own app), and its delivery (queued, sent, failed with listening's code and why).
    author_id: str | None = None
    origin: str | None = None
    status: Literal["queued", "sent", "failed"] | None = None
    platform_message_id: str | None = None
    error_code: str | None = None
    error: str | None = None
    error_retryable: bool | None = None
    sent_at: datetime | None = None


SlaState = Literal["ok", "warning", "breached", "met"]


class SlaTargetView(BaseModel):
    """One SLA target of a conversation: its deadline and state (met: done by the deadline; warning: 80 %
    of the target gone)."""

    due_at: datetime | None = None
    state: SlaState | None = None


class SlaView(BaseModel):
    """A conversation's SLA targets; `paused` while it is pending on the customer."""

    first_response: SlaTargetView
    resolution: SlaTargetView
    paused: bool = False


def sla_target(
    due_at: datetime | None,
    warned_at: datetime | None,
    breached_at: datetime | None,
    done_at: datetime | None,
) -> SlaTargetView:
    """One target's state from its stored deadline and the times its warning and breach fired."""
    if due_at is None:
        return SlaTargetView()
    state: SlaState
    if breached_at is not None:
        state = "breached"
    elif done_at is not None:
        state = "met" if done_at <= due_at else "breached"
    else:
        state = "warning" if warned_at is not None else "ok"
    return SlaTargetView(due_at=due_at, state=state)


class ConversationRead(BaseModel):
    """A conversation as listed."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    profile_id: str
    # The customer's thread it is about, opaque: their direct messages on one channel (`dm:...`), or a
    # public thread by its root post (`post:...`). A conversation per customer and thread.
    thread_key: str = ""
    status: Status
    priority: Priority
    priority_reason: str | None = None
    assignee_id: str | None
    team_id: str | None = None
    channel_id: str | None = None
    first_mention_id: str
    first_response_at: datetime | None = None
    first_response_due_at: datetime | None = None
    resolution_due_at: datetime | None = None
    labels: list[str] = Field(default_factory=list)
    snoozed_until: datetime | None = None
    resolved_at: datetime | None = None
    reopen_count: int = 0
    platform: str | None = None
    language: str | None = None
    customer_display_name: str | None = None
    customer_handle: str | None = None
    last_message_excerpt: str | None = None
    last_message_at: datetime | None = None
    opened_at: datetime
    created_at: datetime
    updated_at: datetime
    # The SLA clock's columns, read to build `sla` (not shown themselves).
    sla_paused_at: datetime | None = Field(default=None, exclude=True)
    first_response_warned_at: datetime | None = Field(default=None, exclude=True)
    first_response_breached_at: datetime | None = Field(default=None, exclude=True)
    resolution_warned_at: datetime | None = Field(default=None, exclude=True)
    resolution_breached_at: datetime | None = Field(default=None, exclude=True)

    @field_validator("labels", mode="before")
    @classmethod
    def _labels(cls, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value

    @computed_field  # type: ignore[prop-decorator]
    @property
    def sla(self) -> SlaView:
        """The SLA targets' deadlines and states."""
        resolved_at = self.resolved_at if self.status in ("resolved", "closed") else None
        return SlaView(
            first_response=sla_target(
                self.first_response_due_at,
                self.first_response_warned_at,
                self.first_response_breached_at,
                self.first_response_at,
            ),
            resolution=sla_target(
                self.resolution_due_at, self.resolution_warned_at, self.resolution_breached_at, resolved_at
            ),
            paused=self.sla_paused_at is not None,
        )


class NoteRead(BaseModel):
    """An internal note on a conversation."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    conversation_id: str
    author_id: str
    body: str
    created_at: datetime


class NoteCreate(BaseModel):
    """An internal note: seen by the tenant's staff, never by the customer."""

    model_config = ConfigDict(extra="forbid")

    body: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000)]


class StatusChangeRead(BaseModel):
    """One status move of a conversation."""

    model_config = ConfigDict(from_attributes=True)

    from_status: Status
    to_status: Status
    cause: Literal["agent", "snooze", "customer", "merged"]
    by_user_id: str | None
    created_at: datetime


class ConversationDetail(ConversationRead):
    """A conversation with its messages, notes and status history, oldest first."""

    messages: list[MessageRead]
    notes: list[NoteRead] = Field(default_factory=list)
    status_history: list[StatusChangeRead] = Field(default_factory=list)
    # Why the latest assignment (or queueing) happened: the team and how it was chosen, the candidates
    # with their load and skill match, the winner (`logic/assignment.py`).
    assignment_reason: dict[str, Any] | None = None
    # The customer's profile as of their latest message (lifecycle, influence, sentiment trend, value,
    # segments); null until a message arrived with one.
    customer_profile: ProfileSnapshot | None = None

    @field_validator("assignment_reason", mode="before")
    @classmethod
    def _reason(cls, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value

    @field_validator("customer_profile", mode="before")
    @classmethod
    def _profile(cls, value: Any) -> Any:
        return ProfileSnapshot.model_validate_json(value) if isinstance(value, str) else value


def _distinct(labels: list[str]) -> list[str]:
    return sorted(set(labels))


class LabelChange(BaseModel):
    """Labels to add and to remove."""

    model_config = ConfigDict(extra="forbid")

    add: Annotated[list[Label], Field(max_length=LABELS_MAX), AfterValidator(_distinct)] = []
    remove: Annotated[list[Label], Field(max_length=LABELS_MAX), AfterValidator(_distinct)] = []


class ConversationUpdate(BaseModel):
    """Fields to change; those left out keep their value.

    `snoozed_until` (a future time with its offset) goes with `status` "snoozed", or alone (it then
    snoozes); `assignee_id` null unassigns.
    """

    model_config = ConfigDict(extra="forbid")

    status: Status | None = None
    priority: Priority | None = None
    labels: LabelChange | None = None
    snoozed_until: AwareDatetime | None = None
    assignee_id: str | None = Field(default=None, min_length=1, max_length=64)


ConversationPage = Page[ConversationRead]
NotePage = Page[NoteRead]


class AgentRead(BaseModel):
    """An agent as engagement's routing sees it."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    display_name: str | None
    active: bool
    last_assigned_at: datetime | None
    created_at: datetime
    capacity: int = 5
    presence: Literal["online", "away", "offline"] = "offline"
    presence_changed_at: datetime | None = None


AgentPage = Page[AgentRead]


class AgentUpdate(BaseModel):
    """What an admin changes on an agent."""

    model_config = ConfigDict(extra="forbid")

    capacity: int = Field(ge=1, le=1000, description="Conversations in progress the agent holds at most.")


class PresenceUpdate(BaseModel):
    """The caller's presence: online gets new work, away keeps what it has, offline hands it back."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["online", "away", "offline"]


class PresenceRead(BaseModel):
    """An agent's presence and how long it lasts without another heartbeat (null when offline)."""

    agent_id: str
    status: Literal["online", "away", "offline"]
    ttl_s: float | None = None


def _language_code(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


# An ISO 639 language code (two or three letters), stored lower case.
LanguageCode = Annotated[str, BeforeValidator(_language_code), StringConstraints(pattern=r"^[a-z]{2,3}$")]
TeamName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class TeamCreate(BaseModel):
    """A team: its skills (languages, topics matched against conversation labels) and business hours
    (null: around the clock)."""

    model_config = ConfigDict(extra="forbid")

    name: TeamName
    languages: Annotated[list[LanguageCode], Field(max_length=50), AfterValidator(_distinct)] = []
    topics: Annotated[list[Label], Field(max_length=50), AfterValidator(_distinct)] = []
    business_hours: BusinessHours | None = None


class TeamUpdate(BaseModel):
    """Fields to change; those left out keep their value (`business_hours` null: around the clock)."""

    model_config = ConfigDict(extra="forbid")

    name: TeamName | None = None
    languages: Annotated[list[LanguageCode], Field(max_length=50), AfterValidator(_distinct)] | None = None
    topics: Annotated[list[Label], Field(max_length=50), AfterValidator(_distinct)] | None = None
    business_hours: BusinessHours | None = None


class TeamRead(BaseModel):
    """A team with its members' agent ids."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    languages: list[str]
    topics: list[str]
    business_hours: BusinessHours | None = None
    member_ids: list[str] = Field(default_factory=list)
    created_at: datetime
    updated_at: datetime

    @field_validator("languages", "topics", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value

    @field_validator("business_hours", mode="before")
    @classmethod
    def _hours(cls, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value


TeamPage = Page[TeamRead]


class AssignRequest(BaseModel):
    """A manual move: to an agent, to a team (routed within it, or queued there), or both."""

    model_config = ConfigDict(extra="forbid")

    agent_id: str | None = Field(default=None, min_length=1, max_length=64)
    team_id: str | None = Field(default=None, min_length=1, max_length=64)

    @model_validator(mode="after")
    def _one(self) -> AssignRequest:
        if self.agent_id is None and self.team_id is None:
            raise ValueError("give `agent_id`, `team_id` or both")
        return self


class MergeRequest(BaseModel):
    """The other conversation of the same customer, merged into this one (and then closed)."""

    model_config = ConfigDict(extra="forbid")

    conversation_id: str = Field(min_length=1, max_length=64)
