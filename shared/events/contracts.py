"""Payload contracts of every event type. Additive changes only; a breaking change is a new type."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny

Role = Literal["owner", "admin", "agent", "analyst", "integration"]
SentimentLabel = Literal["negative", "neutral", "positive"]
Intent = Literal["complaint", "question", "praise", "purchase_intent", "other"]
QueryKind = Literal["brand", "competitor", "topic"]
ReplyKind = Literal["public", "direct"]


class Contract(BaseModel):
    """Consumers ignore fields they do not know, so producers can add fields safely."""

    model_config = ConfigDict(extra="allow")


# --- identity -------------------------------------------------------------------------------------


class TenantCreated(Contract):
    tenant_id: str
    name: str


class UserCreated(Contract):
    user_id: str
    role: Role
    display_name: str | None = None


class UserUpdated(Contract):
    """A user's role or active flag changed (`changed` names which)."""

    user_id: str
    role: Role
    active: bool
    changed: list[Literal["role", "active"]]
    by_user_id: str


class UserDeactivated(Contract):
    """A user was deactivated: they cannot log in and every session of theirs has ended."""

    user_id: str
    by_user_id: str


class ApiKeyCreated(Contract):
    """A user made an API key (never the key itself: its id, name and scopes)."""

    key_id: str
    name: str
    scopes: list[str]
    created_by: str
    expires_at: datetime | None = None


class ApiKeyRevoked(Contract):
    """An API key was revoked: it gets no new token and the tokens it was given are denied."""

    key_id: str
    by_user_id: str


class LoginThrottled(Contract):
    """Repeated failed logins locked an account (or a client address) for `retry_after_s` seconds.

    No e-mail and no address travel: `scope` says which limit tripped, `user_id` whose account it was.
    """

    user_id: str
    scope: Literal["account", "ip"]
    failures: int
    retry_after_s: int


# --- listening ------------------------------------------------------------------------------------


class Author(Contract):
    handle: str
    # The platform's stable id of the account (a handle can change hands); None where the platform gave none.
    platform_user_id: str | None = None
    display_name: str | None = None
    followers: int | None = None
    verified: bool = False
    influence: float | None = None


class Sentiment(Contract):
    label: SentimentLabel
    score: float = Field(ge=-1, le=1)


class Analysis(Contract):
    language: str
    sentiment: Sentiment
    intent: Intent
    tier: str = "rules"


class MentionPayload(Contract):
    mention_id: str
    platform: str
    external_id: str
    text: str
    created_at: datetime
    url: str | None = None
    author: Author
    in_reply_to: str | None = None
    analysis: Analysis


class MatchedQuery(Contract):
    """A listening query the mention matched, and what the query is about."""

    query_id: str
    kind: QueryKind


class MentionReceived(MentionPayload):
    """listening stored and analysed a new mention."""

    # The ids of `matched_queries`, kept for consumers written before kinds travelled.
    matched_query_ids: list[str] = Field(default_factory=list)
    matched_queries: list[MatchedQuery] = Field(default_factory=list)
    group_id: str | None = None
    # The tenant's channel the post arrived through; None for the ingest API and file imports.
    channel_id: str | None = None
    # post, comment, message (a private message), review; None when the ingest API did not say.
    kind: str | None = None


class MentionReanalysed(Contract):
    """A mention's analysis changed: re-scored by the quality tier, or corrected by an agent."""

    mention_id: str
    created_at: datetime
    previous: Analysis
    analysis: Analysis
    reason: Literal["quality", "label"]


class MentionRedacted(Contract):
    """A post was deleted, withheld or its author erased on the platform: its text is gone everywhere."""

    mention_id: str
    platform: str
    created_at: datetime
    reason: Literal["deleted", "withheld", "user_deleted"]
    analysis: Analysis


class MentionEdited(Contract):
    """The author edited a post on the platform; it was re-analysed."""

    mention_id: str
    created_at: datetime
    text: str
    previous: Analysis
    analysis: Analysis


class AlertRaised(Contract):
    """A listening query's volume or negative share rose far above its recent baseline."""

    alert_id: str
    query_id: str
    kind: Literal["volume", "negative_share"]
    observed: float
    baseline: float
    score: float
    bucket_start: datetime


# --- profiles -------------------------------------------------------------------------------------


LifecycleStage = Literal["stranger", "fan", "lead", "customer", "advocate"]


class ProfileCreated(Contract):
    profile_id: str
    platform: str


class ProfileSnapshot(Contract):
    """What other services need to know of a profile (engagement routes by it), as of the event."""

    profile_id: str
    display_name: str | None = None
    lifecycle_stage: LifecycleStage = "stranger"
    at_risk: bool = False
    influence: float = 0.0
    followers: int | None = None
    sentiment_trend: float = 0.0
    mention_count: int = 0
    languages: list[str] = Field(default_factory=list)
    # {currency: "decimal string"}
    lifetime_value: dict[str, str] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    segment_ids: list[str] = Field(default_factory=list)


class MentionResolved(Contract):
    """profiles attached a mention to a customer profile."""

    profile_id: str
    # The mention as listening announced it: every field of `listening.mention.received` travels on
    # (channel_id, matched_queries, ...), though only the common ones are declared here.
    mention: SerializeAsAny[MentionPayload]
    # The profile as it is with this mention counted.
    profile: ProfileSnapshot | None = None


class ProfileUpdated(Contract):
    """A profile's fields changed (`changed` names them); one event per profile per change set."""

    profile_id: str
    changed: list[str]
    profile: ProfileSnapshot


class ProfileMerged(Contract):
    """`merged_id` was merged into `survivor_id`: references to the merged id now mean the survivor."""

    survivor_id: str
    merged_id: str
    reason: Literal["identifier", "agent", "suggestion"]
    merge_id: str


class ProfileUnmerged(Contract):
    """Identifiers (and their interactions) were split from `profile_id` into `restored_profile_id`."""

    profile_id: str
    restored_profile_id: str
    identifier_ids: list[str]
    merge_id: str | None = None


class LifecycleChanged(Contract):
    """A profile's lifecycle stage or churn risk changed, and why."""

    profile_id: str
    from_stage: LifecycleStage
    to_stage: LifecycleStage
    at_risk: bool
    reason: str


class ReplySent(Contract):
    """listening sent a reply engagement asked for: the platform accepted it under `platform_message_id`."""

    message_id: str
    conversation_id: str
    channel_id: str
    platform: str
    platform_message_id: str
    attempts: int
    sent_at: datetime
    # The text as sent, when listening composed it (a WhatsApp template's body with its parameters).
    text: str | None = None


class ReplyFailed(Contract):
    """listening did not send a reply engagement asked for; `code` says why, `error` in a sentence (the
    platform's own message where it gave one, cut short, never a credential). `retryable`: asking again
    later (the same `message_id`) may succeed."""

    message_id: str
    conversation_id: str
    channel_id: str
    code: Literal[
        "channel_not_found",
        "unsupported_platform",
        "missing_credentials",
        "invalid_request",
        "outside_customer_service_window",
        "outside_human_agent_window",
        "templates_not_supported",
        "unknown_template",
        "template_parameter_mismatch",
        "platform_rejected",
        "platform_unavailable",
    ]
    error: str
    retryable: bool
    attempts: int
    failed_at: datetime


# --- engagement -----------------------------------------------------------------------------------


class ConversationOpened(Contract):
    conversation_id: str
    profile_id: str
    mention_id: str
    priority: Literal["low", "normal", "high", "urgent"]
    assignee_id: str | None = None
    opened_at: datetime
    # The SLA deadlines the opening set (None: no policy, or a producer that does not say), and the team
    # routing chose: metrics needs a deadline that was met to count it, and no event names one otherwise.
    first_response_due_at: datetime | None = None
    resolution_due_at: datetime | None = None
    team_id: str | None = None


class ReplyTemplate(Contract):
    """An approved WhatsApp message template, by its name and language code as Meta approved it, with
    the values of its body's `{{1}}`, `{{2}}`, ... parameters in order."""

    name: str = Field(min_length=1, max_length=512)
    language: str = Field(min_length=2, max_length=16)
    parameters: list[str] = Field(default_factory=list, max_length=20)


class ReplyRequested(Contract):
    """An agent's reply, recorded by engagement, for listening to send through the customer's channel.

    `message_id` is engagement's id of the outbound message: listening sends each at most once after a
    success. `kind`: `public` answers a post or comment in its thread (`in_reply_to` is the platform's id
    of it; or `mention_id`, listening's id of the mention, from which listening takes it); `direct` is a
    private message to `recipient` (the platform's user id: a page-scoped id on Messenger, an
    Instagram-scoped id, a WhatsApp phone number; a Mastodon handle), which `mention_id` can give too.
    `template`: send this approved WhatsApp template instead of `text` (which then only describes it);
    listening refuses a template the channel does not store (`unknown_template`). `human_agent`: a person
    wrote the reply (not an automatic message), so Messenger / Instagram take it with the `HUMAN_AGENT`
    tag up to 7 days after the customer's last message (`shared/windows.py`).
    """

    message_id: str = Field(min_length=1, max_length=128)
    conversation_id: str = Field(max_length=128)
    channel_id: str = Field(max_length=128)
    text: str = Field(min_length=1, max_length=10_000)
    kind: ReplyKind = "public"
    in_reply_to: str | None = Field(default=None, max_length=256)
    mention_id: str | None = Field(default=None, max_length=128)
    recipient: str | None = Field(default=None, max_length=256)
    requested_at: datetime | None = None
    template: ReplyTemplate | None = None
    human_agent: bool = False


class ConversationAssigned(Contract):
    conversation_id: str
    assignee_id: str
    # The team it was routed to, and how the assignee was chosen ("skills", "rule", "queue", "manual").
    team_id: str | None = None
    reason: str | None = None


ConversationStatus = Literal["open", "pending", "snoozed", "resolved", "closed"]


class ConversationStatusChanged(Contract):
    """A conversation moved from one status to another, by an agent, the snooze clock or the customer."""

    conversation_id: str
    profile_id: str
    from_status: ConversationStatus
    to_status: ConversationStatus
    cause: Literal["agent", "snooze", "customer", "merged"]
    by_user_id: str | None = None
    changed_at: datetime
    # A move to resolved or closed whose SLA clock runs in its team's business hours: the time from the
    # opening to `changed_at` counted in those hours (None: the wall clock applies, or not a resolution).
    business_seconds: float | None = None


class ConversationReopened(Contract):
    """The customer wrote again within the reopen window: the resolved conversation is open again."""

    conversation_id: str
    profile_id: str
    mention_id: str
    reopen_count: int
    reopened_at: datetime


class WebhookDisabled(Contract):
    """A webhook subscription was disabled after `consecutive_failures` failed deliveries in a row.

    The endpoint's URL does not travel (it may carry the partner's token); its id does.
    """

    subscription_id: str
    consecutive_failures: int
    last_status_code: int | None = None
    last_error: str | None = None
    disabled_at: datetime


SlaTarget = Literal["first_response", "resolution"]


class SlaWarning(Contract):
    """80 % of a conversation's SLA target (first response or resolution) has elapsed; fired once."""

    conversation_id: str
    profile_id: str
    target: SlaTarget
    priority: Literal["low", "normal", "high", "urgent"]
    due_at: datetime
    team_id: str | None = None
    assignee_id: str | None = None
    fired_at: datetime


class SlaBreached(Contract):
    """A conversation's SLA target (first response or resolution) has passed unmet; fired once."""

    conversation_id: str
    profile_id: str
    target: SlaTarget
    priority: Literal["low", "normal", "high", "urgent"]
    due_at: datetime
    team_id: str | None = None
    assignee_id: str | None = None
    fired_at: datetime


# --- replies and the brand's own posts (issue 11) -------------------------------------------------


class BrandPostReceived(Contract):
    """The brand's own account posted on a platform (a reply in a thread, a message echo): not a mention.

    It comes through one of the tenant's channels (`channel_id`) or the ingest API (None), written by an
    account the tenant owns there. `in_reply_to` is the platform's id of the post it answers, if any.
    """

    platform: str
    external_id: str
    text: str
    created_at: datetime
    in_reply_to: str | None = None
    channel_id: str | None = None
    account_id: str | None = None
    # post, comment, message (a private message); None when not known.
    kind: str | None = None


class ConversationMessage(Contract):
    """A message of a conversation as the inbox shows it (no text: read it through the API)."""

    message_id: str
    conversation_id: str
    direction: Literal["inbound", "outbound"]
    platform: str
    # Outbound only: "agent", "auto_ack", "survey", "platform" (posted from the platform's own app).
    origin: str | None = None
    # Outbound only: queued, sent or failed.
    status: Literal["queued", "sent", "failed"] | None = None
    author_id: str | None = None
    platform_message_id: str | None = None
    error_code: str | None = None
    error: str | None = None
    posted_at: datetime


class MessageCreated(ConversationMessage):
    """A message joined a conversation: the customer's post, an agent's reply, the brand's own post."""


class MessageUpdated(ConversationMessage):
    """An outbound message's delivery changed: sent (with the platform's id) or failed (code, error)."""


class ConversationFirstResponded(Contract):
    """The brand answered a conversation for the first time (a reply the platform accepted, or the
    brand's own post in the thread): the SLA's first-response clock stops at `responded_at`."""

    conversation_id: str
    message_id: str
    origin: str
    opened_at: datetime
    responded_at: datetime
    # When the conversation's SLA clock runs in its team's business hours: the time from `opened_at` to
    # `responded_at` counted in those hours (None: the wall clock applies).
    business_seconds: float | None = None


class ConversationUnassigned(Contract):
    """A conversation went back to the queue: its agent went offline, was deactivated, or a person or a
    rule moved it (`reason`)."""

    conversation_id: str
    previous_assignee_id: str
    reason: str


class ConversationMerged(Contract):
    """Two conversations of one customer became one: `merged_id`'s messages and notes moved into
    `conversation_id`, and `merged_id` was closed."""

    conversation_id: str
    merged_id: str
    profile_id: str
    messages_moved: int
    by_user_id: str | None = None


class SurveyAnswered(Contract):
    """A customer answered the satisfaction survey of a resolved conversation, by reply or by its link.

    `score`: 1-5 for `csat`, 0-10 for `nps`. `assignee_id`: the agent the conversation was assigned to when
    it was resolved. The customer's comment stays in engagement.
    """

    survey_id: str
    conversation_id: str
    profile_id: str
    assignee_id: str | None = None
    kind: Literal["csat", "nps"]
    score: int = Field(ge=0, le=10)
    channel_id: str | None = None
    platform: str | None = None
    via: Literal["reply", "link"]
    answered_at: datetime


# --- privacy --------------------------------------------------------------------------------------

Purpose = Literal["engagement", "profiling", "marketing", "analytics"]
LawfulBasis = Literal["consent", "legitimate_interest", "contract"]
ConsentStatus = Literal["granted", "withdrawn"]
PrivacyService = Literal["listening", "profiles", "engagement", "metrics"]


class ConsentChanged(Contract):
    """A person's consent ledger changed; `state` is their whole current state, so a consumer re-projects it.

    `changed` names what moved: a purpose, `objection`, `restriction`, `merge` or `unmerge`.
    """

    profile_id: str
    changed: str
    purposes: dict[str, ConsentStatus] = {}
    objections: list[Purpose] = []
    restricted: bool = False
    source: str | None = None
    by_user_id: str | None = None
    changed_at: datetime


class PrivacyPolicyChanged(Contract):
    """A tenant's privacy policy: the lawful basis per purpose, and how long posts and messages stay."""

    bases: dict[str, LawfulBasis]
    retention_days: int | None = None
    by_user_id: str | None = None
    changed_at: datetime


class AuditRecorded(Contract):
    """One access to a person's data, allowed or refused, by whom and for which purpose (ids only)."""

    audit_id: str
    actor_id: str | None = None
    actor_kind: Literal["user", "api_key", "system"] = "user"
    profile_id: str | None = None
    purpose: Purpose
    decision: Literal["allowed", "refused"]
    reason: str
    method: str | None = None
    path: str | None = None
    recorded_by: str
    request_id: str | None = None
    at: datetime


class PrivacySubject(Contract):
    """Whom a privacy request is about: the profiles it names and every identifier they hold.

    It travels only on the privacy stream, whose messages about a request are deleted when it completes.
    """

    profile_ids: list[str]
    identities: list[dict[str, str | None]] = []


class ConsentCaptured(Contract):
    """A person gave or withdrew consent where they talk to the brand (an opt-in keyword in a DM or on
    WhatsApp, a survey's opt-in), for profiles to write into the ledger with its evidence."""

    profile_id: str
    purpose: Purpose
    status: ConsentStatus
    source: str
    evidence: dict[str, str] = {}
    captured_at: datetime


class ExportRequested(Contract):
    request_id: str
    subject: PrivacySubject
    requested_at: datetime


class ExportPart(Contract):
    """One service's answer to an export: what it holds about the person (`data`), in `chunks` parts."""

    request_id: str
    service: PrivacyService
    chunk: int = 0
    chunks: int = 1
    data: dict[str, object] = {}
    produced_at: datetime


class ErasureRequested(Contract):
    request_id: str
    subject: PrivacySubject
    requested_at: datetime


class ErasureCompleted(Contract):
    """One service erased (deleted or irreversibly anonymised) what it held: `counts` per kind of record."""

    request_id: str
    service: PrivacyService
    counts: dict[str, int] = {}
    # Ids of what was erased (mentions, conversations, messages) that events still in transit may name:
    # the stream scrub looks for them too.
    references: list[str] = []
    completed_at: datetime


class SubjectErased(Contract):
    """A person was erased; partners erase them too. `subject_ref` is opaque: no personal data travels."""

    subject_ref: str
    erased_at: datetime
