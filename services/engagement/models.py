"""engagement's tables: the agents projection, conversations, their messages, notes and status history."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal, TypeVar

from sqlalchemy import Column, Index, Text, UniqueConstraint, text
from sqlalchemy import inspect as sa_inspect
from sqlmodel import Field, SQLModel

from shared.db import UTCDateTime, utcnow

# open: an agent's move; pending: waiting on the customer; snoozed: open again at `snoozed_until`;
# resolved: done, reopened if the customer writes again within the reopen window; closed: final.
Status = Literal["open", "pending", "snoozed", "resolved", "closed"]
STATUSES: tuple[Status, ...] = ("open", "pending", "snoozed", "resolved", "closed")
# Statuses of a conversation still in progress (at most one per customer and thread); the others are finished.
ACTIVE_STATUSES: tuple[Status, ...] = ("open", "pending", "snoozed")
Priority = Literal["low", "normal", "high", "urgent"]


def new_id() -> str:
    return str(uuid.uuid4())


M = TypeVar("M", bound=SQLModel)


@functools.cache
def _defaults(model: type[SQLModel]) -> tuple[dict[str, Any], tuple[tuple[str, Callable[[], Any]], ...]]:
    """A model's field defaults (immutable values here) and its default factories."""
    fixed: dict[str, Any] = {}
    factories: list[tuple[str, Callable[[], Any]]] = []
    for name, field in model.model_fields.items():
        if field.default_factory is not None:
            factories.append((name, field.default_factory))  # type: ignore[arg-type]
        elif not field.is_required():
            fixed[name] = field.default
    return fixed, tuple(factories)


def new_row(model: type[M], **values: Any) -> M:
    """`model(**values)` for a row about to be added, built as the ORM builds a row it loads: the
    instance and its state, then the model's defaults and `values` in its dict, which the flush inserts.
    SQLModel's constructor sets every field through pydantic and the ORM's attribute events and inspects
    each default factory's signature (0.1-0.3 ms for a conversation); table models are not validated
    either way."""
    fixed, factories = _defaults(model)
    unknown = values.keys() - model.model_fields.keys()
    if unknown:
        raise TypeError(f"{model.__name__} has no fields {sorted(unknown)}")
    row: M = sa_inspect(model).class_manager.new_instance()
    held = row.__dict__
    held.update(fixed)
    for name, factory in factories:
        if name not in values:
            held[name] = factory()
    held.update(values)
    object.__setattr__(row, "__pydantic_fields_set__", set(values))
    return row


class Agent(SQLModel, table=True):
    """A user of the tenant who can be assigned conversations (projected from identity)."""

    __tablename__ = "agent"
    # A page of the tenant's agents, newest first (keyset on created_at, id).
    __table_args__ = (Index("ix_agent_tenant_created", "tenant_id", "created_at", "id"),)

    id: str = Field(primary_key=True, max_length=64, description="The identity user id.")
    tenant_id: str = Field(index=True, max_length=64)
    role: str = Field(max_length=20)
    display_name: str | None = Field(default=None, max_length=200)
    active: bool = True
    last_assigned_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # Conversations in progress the agent holds at most at once (routing never exceeds it).
    capacity: int = Field(default=5, sa_column_kwargs={"server_default": "5"})
    # online, away or offline: the stored fact routing reads (heartbeats keep it alive in Redis).
    presence: str = Field(default="offline", max_length=10, sa_column_kwargs={"server_default": "offline"})
    presence_changed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Conversation(SQLModel, table=True):
    """One thread with one customer profile, opened by an actionable mention."""

    __tablename__ = "conversation"
    __table_args__ = (
        # At most one conversation in progress per customer and thread, even with replicas racing.
        Index(
            "uq_conversation_open_thread",
            "tenant_id",
            "profile_id",
            "thread_key",
            unique=True,
            sqlite_where=text("status IN ('open', 'pending', 'snoozed')"),
            postgresql_where=text("status IN ('open', 'pending', 'snoozed')"),
        ),
        Index("ix_conversation_tenant_created", "tenant_id", "created_at", "id"),
        # The snooze clock's scan: snoozed conversations whose time has come, in every tenant.
        Index("ix_conversation_snoozed_until", "status", "snoozed_until"),
        # The customer's latest conversation on a thread (the reopen window); a profile's conversations.
        Index("ix_conversation_tenant_profile_thread", "tenant_id", "profile_id", "thread_key"),
        # An agent's load (conversations in progress they hold) and the queue (no assignee).
        Index("ix_conversation_tenant_assignee", "tenant_id", "assignee_id"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=64)
    tenant_id: str = Field(index=True, max_length=64)
    profile_id: str = Field(max_length=64)
    # The customer's thread it is about (logic/threads.py): their direct messages on a channel, or a public
    # thread by its root post. A conversation per customer and thread.
    thread_key: str = Field(default="", max_length=64, sa_column_kwargs={"server_default": ""})
    status: str = Field(default="open", max_length=10)
    priority: str = Field(default="normal", max_length=10)
    # Why routing gave the priority it did ("negative complaint; influential author (influence 82)").
    priority_reason: str | None = Field(default=None, max_length=200)
    assignee_id: str | None = Field(default=None, max_length=64)
    # The team working it (routing rules or skills chose it); None: the tenant's general pool.
    team_id: str | None = Field(default=None, max_length=64)
    # The tenant's channel the thread came through (replies and surveys go back through it); None for
    # posts pushed through the ingest API or found by listening queries.
    channel_id: str | None = Field(default=None, max_length=64)
    first_mention_id: str = Field(max_length=64)
    # The brand's first answer on the thread (an agent's reply sent, or the brand's own post in it).
    first_response_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # SLA deadlines (stored, so timers survive restarts): the first response and the resolution are due.
    first_response_due_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolution_due_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The SLA clock (logic/sla.py): when it started (opening, or a reopening for the resolution target),
    # the business seconds spent pending so far (they do not count), when the current pause began, the
    # 80 % marks, when each warning/breach fired (each fires once), and the next instant the clock must
    # look at this conversation (None: nothing left to fire, or paused) — the clock's indexed scan.
    sla_started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sla_paused_s: float = Field(default=0.0, sa_column_kwargs={"server_default": "0"})
    sla_paused_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    first_response_warn_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolution_warn_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    first_response_warned_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    first_response_breached_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolution_warned_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolution_breached_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sla_next_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    # The business hours the clock counts in (BusinessHours JSON; None: the wall clock), kept so a resume
    # after a pause pushes the deadlines without looking the team up again.
    sla_hours: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # A JSON list of the labels agents gave it, sorted.
    labels: str = Field(default="[]", sa_column=Column(Text, nullable=False, server_default="[]"))
    snoozed_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    reopen_count: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # Set when it was merged into another conversation: its thread goes on there.
    merged_into_id: str | None = Field(default=None, max_length=64)
    # The inbox row, kept here so a page is one query: the platform and language of the thread, the
    # customer as the latest mention's profile snapshot showed them, and the latest message.
    platform: str | None = Field(default=None, max_length=64)
    language: str | None = Field(default=None, max_length=16)
    customer_display_name: str | None = Field(default=None, max_length=200)
    customer_handle: str | None = Field(default=None, max_length=200)
    # The customer's profile as the latest inbound message's resolution showed it (ProfileSnapshot JSON:
    # lifecycle, influence, sentiment trend, value, segments), so the detail view needs no call to profiles.
    customer_profile: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    last_message_excerpt: str | None = Field(default=None, max_length=200)
    last_message_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    opened_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # Why the latest assignment (or queueing) happened, JSON (logic/assignment.py): the rule or team
    # chosen, the candidates with their load and skill match, the winner.
    assignment_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class Team(SQLModel, table=True):
    """A group of agents with skills (languages, topics) and business hours."""

    __tablename__ = "team"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name", name="uq_team_tenant_name"),
        Index("ix_team_tenant_created", "tenant_id", "created_at", "id"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=64)
    tenant_id: str = Field(max_length=64)
    name: str = Field(max_length=100)
    # JSON lists: ISO 639-1 language codes and free topic labels (matched against conversation labels).
    languages: str = Field(default="[]", sa_column=Column(Text, nullable=False, server_default="[]"))
    topics: str = Field(default="[]", sa_column=Column(Text, nullable=False, server_default="[]"))
    # A `logic.hours.BusinessHours` as JSON; None: around the clock.
    business_hours: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class TeamMember(SQLModel, table=True):
    """An agent's membership of a team."""

    __tablename__ = "team_member"
    __table_args__ = (Index("ix_team_member_tenant_agent", "tenant_id", "agent_id"),)

    team_id: str = Field(primary_key=True, max_length=64)
    agent_id: str = Field(primary_key=True, max_length=64)
    tenant_id: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Message(SQLModel, table=True):
    """One post in a conversation; a mention becomes at most one message (natural-key idempotency)."""

    __tablename__ = "message"
    __table_args__ = (
        # Inbound messages: one per mention. Outbound ones have no mention (NULLs never collide).
        UniqueConstraint("tenant_id", "mention_id", name="uq_message_tenant_mention"),
        # The message a platform post answers or echoes, by the platform's id (the brand's own posts).
        Index("ix_message_tenant_external", "tenant_id", "external_id"),
        # Retention: the tenant's messages posted before its cutoff, oldest first.
        Index("ix_message_tenant_posted", "tenant_id", "posted_at"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=64)
    tenant_id: str = Field(index=True, max_length=64)
    conversation_id: str = Field(index=True, max_length=64)
    # listening's id of the mention an inbound message is; None for outbound messages.
    mention_id: str | None = Field(default=None, max_length=64)
    direction: str = Field(default="inbound", max_length=10)
    platform: str = Field(max_length=64)
    text: str = Field(sa_column=Column(Text, nullable=False))
    # The analysis of an inbound message; None for outbound ones.
    intent: str | None = Field(default=None, max_length=30)
    sentiment_label: str | None = Field(default=None, max_length=10)
    # What the post is on its platform (post, comment, message: private, review), when known.
    kind: str | None = Field(default=None, max_length=16)
    # The platform's id of the post (inbound: the mention's; outbound: the id the platform gave it once sent).
    external_id: str | None = Field(default=None, max_length=256)
    # Outbound only: who wrote it (None: the system or the brand's own account on the platform), why it
    # was sent ("agent", "auto_ack", "survey"; "platform": posted from the platform's own app), and its
    # delivery: queued → sent (with the platform's id) or failed (with listening's code and sentence).
    author_id: str | None = Field(default=None, max_length=64)
    origin: str | None = Field(default=None, max_length=16)
    status: str | None = Field(default=None, max_length=10)
    platform_message_id: str | None = Field(default=None, max_length=256)
    error_code: str | None = Field(default=None, max_length=40)
    error: str | None = Field(default=None, max_length=400)
    error_retryable: bool | None = None
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # When the author posted it (the mention's own time); `created_at` is when engagement stored it.
    posted_at: datetime = Field(sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # The post was removed on its platform (listening.mention.redacted): `text` is emptied.
    redacted: bool = False


class ConversationNote(SQLModel, table=True):
    """An internal note an agent left on a conversation (never sent to the customer)."""

    __tablename__ = "conversation_note"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=64)
    tenant_id: str = Field(index=True, max_length=64)
    conversation_id: str = Field(index=True, max_length=64)
    author_id: str = Field(max_length=64)
    body: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CannedResponse(SQLModel, table=True):
    """A saved answer agents reuse: per-language variants (JSON {language: text}) and a default one."""

    __tablename__ = "canned_response"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name", name="uq_canned_response_tenant_name"),
        Index("ix_canned_response_tenant_created", "tenant_id", "created_at", "id"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=64)
    tenant_id: str = Field(index=True, max_length=64)
    name: str = Field(max_length=100)
    default_language: str = Field(max_length=16)
    variants: str = Field(sa_column=Column(Text, nullable=False))
    created_by: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class StatusChange(SQLModel, table=True):
    """One move of a conversation's status: who made it (None: the system) and when."""

    __tablename__ = "conversation_status_change"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=64)
    tenant_id: str = Field(index=True, max_length=64)
    conversation_id: str = Field(index=True, max_length=64)
    from_status: str = Field(max_length=10)
    to_status: str = Field(max_length=10)
    # "agent" (a PATCH), "snooze" (the snooze clock woke it), "customer" (a new post reopened it).
    cause: str = Field(max_length=10)
    by_user_id: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class SeenMention(SQLModel, table=True):
    """Projection of profiles.mention.resolved: a mention's profile and payload, so corrections can route it.

    A `listening.mention.reanalysed` that arrives before the resolution is kept here too (profile_id None,
    `analysis` set); the resolution then routes the mention with that newer analysis.
    """

    __tablename__ = "seen_mention"
    __table_args__ = (
        UniqueConstraint("tenant_id", "mention_id", name="uq_seen_mention_tenant_mention"),
        # Retention: the tenant's rows untouched since before its cutoff.
        Index("ix_seen_mention_tenant_updated", "tenant_id", "updated_at"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=64)
    tenant_id: str = Field(index=True, max_length=64)
    mention_id: str = Field(max_length=64)
    profile_id: str | None = Field(default=None, max_length=64)
    payload: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # MentionPayload JSON
    analysis: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # newest Analysis JSON
    redacted: bool = False
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class SlaPolicy(SQLModel, table=True):
    """A tenant's SLA targets for one priority: first response and resolution, in seconds of business
    time (the conversation's team's hours) or of the wall clock."""

    __tablename__ = "sla_policy"
    __table_args__ = (UniqueConstraint("tenant_id", "priority", name="uq_sla_policy_tenant_priority"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=64)
    tenant_id: str = Field(index=True, max_length=64)
    priority: str = Field(max_length=10)
    first_response_s: float | None = None
    resolution_s: float | None = None
    business_hours: bool = False
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class RoutingRule(SQLModel, table=True):
    """One of a tenant's routing rules: conditions and actions (JSON), tried in `position` order."""

    __tablename__ = "routing_rule"
    __table_args__ = (Index("ix_routing_rule_tenant_position", "tenant_id", "position", "id"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=64)
    tenant_id: str = Field(max_length=64)
    name: str = Field(max_length=200)
    position: int = 0
    enabled: bool = True
    # "mention" (decides what a post opens) or "sla_warning" / "sla_breached" (acts on the SLA clock).
    trigger: str = Field(default="mention", max_length=20)
    conditions: str = Field(default="{}", sa_column=Column(Text, nullable=False, server_default="{}"))
    actions: str = Field(default="{}", sa_column=Column(Text, nullable=False, server_default="{}"))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class RoutingVersion(SQLModel, table=True):
    """A tenant's routing-rules version, bumped by every edit: replicas' rule caches check it cheaply."""

    __tablename__ = "routing_version"

    tenant_id: str = Field(primary_key=True, max_length=64)
    version: int = 0


class SurveySetting(SQLModel, table=True):
    """Whether and how a channel's resolved conversations get a satisfaction survey.

    `channel_id` is a listening channel's id, or `default` for conversations without a channel and
    channels without a setting of their own (engagement does not check the id with listening).
    """

    __tablename__ = "survey_setting"

    tenant_id: str = Field(primary_key=True, max_length=64)
    channel_id: str = Field(primary_key=True, max_length=64)
    kind: str = Field(max_length=10)  # csat (1-5), nps (0-10) or off
    # A JSON object: language → question; `default_question` when the conversation's language has none.
    questions: str = Field(default="{}", sa_column=Column(Text, nullable=False, server_default="{}"))
    default_question: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # How long the signed link answers after the survey went out.
    link_valid_s: int
    updated_by: str | None = Field(default=None, max_length=64)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Survey(SQLModel, table=True):
    """One survey offered when a conversation was resolved, and its answer (at most one).

    Only a digest of the link's token is stored; the token itself is in the link alone.
    """

    __tablename__ = "survey"
    __table_args__ = (
        UniqueConstraint("token_digest", name="uq_survey_token_digest"),
        # An answer by reply: the profile's open survey on the channel the post came through.
        Index("ix_survey_tenant_profile", "tenant_id", "profile_id", "channel_id"),
        Index("ix_survey_tenant_conversation", "tenant_id", "conversation_id"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=64)
    tenant_id: str = Field(max_length=64)
    conversation_id: str = Field(max_length=64)
    profile_id: str = Field(max_length=64)
    channel_id: str | None = Field(default=None, max_length=64)
    platform: str | None = Field(default=None, max_length=64)
    # The agent the conversation was assigned to when it was resolved.
    assignee_id: str | None = Field(default=None, max_length=64)
    kind: str = Field(max_length=10)  # csat or nps
    # sent: the question went out as a message through the channel; link_only: it could not (no channel,
    # or the platform's customer-service window had closed), so only the link exists, to share otherwise.
    state: str = Field(max_length=10)
    message_id: str | None = Field(default=None, max_length=64)
    language: str | None = Field(default=None, max_length=16)
    question: str = Field(sa_column=Column(Text, nullable=False))
    token_digest: str = Field(max_length=64)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    answered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    answered_via: str | None = Field(default=None, max_length=10)  # reply or link
    answer_mention_id: str | None = Field(default=None, max_length=64)
    score: int | None = None
    comment: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ErasedProfile(SQLModel, table=True):
    """A profile whose person was erased (services.engagement.privacy): an event about them still in
    transit (a resolution, a change for partners) opens nothing and is delivered to nobody.

    The profile id is random and no longer names anything anywhere; it is all the row holds."""

    __tablename__ = "erased_profile"

    tenant_id: str = Field(primary_key=True, max_length=64)
    profile_id: str = Field(primary_key=True, max_length=64)
    erased_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# The outbound module's tables belong to this database too (migrations find a service's tables here).
from services.engagement.outbound.models import WebhookDelivery, WebhookSubscription  # noqa: E402
from services.engagement.tenant_privacy.models import TenantPrivacy  # noqa: E402

__all__ = [
    "Agent",
    "CannedResponse",
    "Conversation",
    "ConversationNote",
    "ErasedProfile",
    "Message",
    "RoutingRule",
    "RoutingVersion",
    "SeenMention",
    "SlaPolicy",
    "StatusChange",
    "Survey",
    "SurveySetting",
    "Team",
    "TeamMember",
    "TenantPrivacy",
    "WebhookDelivery",
    "WebhookSubscription",
]
