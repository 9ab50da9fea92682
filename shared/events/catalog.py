"""Every event in one place: its type (which is its subject), payload class, stream, producer and meaning.

Staging an event names only its payload (`new_event(MentionReceived(...), ...)`): the type follows from
the class, so each class appears here once. Streams are declared for the domains that have events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from shared.events import contracts as c

P = TypeVar("P", bound=c.Contract)

DEADLETTER_STREAM = "DEADLETTER"


@dataclass(frozen=True)
class EventSpec(Generic[P]):
    """One event type, `name` = `<domain>.<entity>.<verb>`: its subject too, in its domain's stream."""

    name: str
    model: type[P]
    producer: str
    description: str

    @property
    def subject(self) -> str:
        return self.name

    @property
    def domain(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def stream(self) -> str:
        return self.domain.upper()


SPECS: tuple[EventSpec[c.Contract], ...] = (
    EventSpec("identity.tenant.created", c.TenantCreated, "identity", "A tenant signed up."),
    EventSpec("identity.user.created", c.UserCreated, "identity", "A user joined a tenant with a role."),
    EventSpec("identity.user.updated", c.UserUpdated, "identity", "A user's role or active flag changed."),
    EventSpec(
        "identity.user.deactivated",
        c.UserDeactivated,
        "identity",
        "A user was deactivated; their sessions ended and they cannot log in.",
    ),
    EventSpec(
        "identity.api_key.created",
        c.ApiKeyCreated,
        "identity",
        "A user made an API key with scopes (the key itself never travels).",
    ),
    EventSpec(
        "identity.api_key.revoked",
        c.ApiKeyRevoked,
        "identity",
        "An API key was revoked; its tokens are denied.",
    ),
    EventSpec(
        "identity.login.throttled",
        c.LoginThrottled,
        "identity",
        "Repeated failed logins locked an account or a client address for a while.",
    ),
    EventSpec(
        "listening.mention.received",
        c.MentionReceived,
        "listening",
        "A post was ingested, de-duplicated and analysed.",
    ),
    EventSpec(
        "listening.mention.reanalysed",
        c.MentionReanalysed,
        "listening",
        "A mention's analysis changed (quality re-score or agent correction).",
    ),
    EventSpec(
        "listening.mention.redacted",
        c.MentionRedacted,
        "listening",
        "A post was removed on its platform; its text is redacted everywhere.",
    ),
    EventSpec("listening.mention.edited", c.MentionEdited, "listening", "A post was edited on its platform."),
    EventSpec("listening.alert.raised", c.AlertRaised, "listening", "A listening query spiked."),
    EventSpec(
        "listening.reply.sent",
        c.ReplySent,
        "listening",
        "A reply engagement asked for was accepted by the platform (its id there travels).",
    ),
    EventSpec(
        "listening.reply.failed",
        c.ReplyFailed,
        "listening",
        "A reply engagement asked for was not sent: refused up front, refused by the platform, or out of "
        "retries.",
    ),
    EventSpec(
        "profiles.profile.created", c.ProfileCreated, "profiles", "A new customer profile was created."
    ),
    EventSpec(
        "profiles.mention.resolved",
        c.MentionResolved,
        "profiles",
        "A mention was attached to its customer profile.",
    ),
    EventSpec(
        "profiles.profile.updated",
        c.ProfileUpdated,
        "profiles",
        "A profile's fields changed (counters, sentiment trend, influence, lifecycle, ...).",
    ),
    EventSpec(
        "profiles.profile.merged",
        c.ProfileMerged,
        "profiles",
        "Two profiles were found to be one customer; references to the merged id mean the survivor now.",
    ),
    EventSpec(
        "profiles.profile.unmerged",
        c.ProfileUnmerged,
        "profiles",
        "Identifiers and their interactions were split off a profile into another one.",
    ),
    EventSpec(
        "profiles.profile.lifecycle_changed",
        c.LifecycleChanged,
        "profiles",
        "A profile's lifecycle stage or churn risk changed, with the reason.",
    ),
    EventSpec(
        "engagement.conversation.opened",
        c.ConversationOpened,
        "engagement",
        "An actionable mention opened a conversation.",
    ),
    EventSpec(
        "engagement.conversation.assigned",
        c.ConversationAssigned,
        "engagement",
        "A conversation was assigned to an agent.",
    ),
    EventSpec(
        "engagement.conversation.status_changed",
        c.ConversationStatusChanged,
        "engagement",
        "A conversation's status changed (open, pending, snoozed, resolved, closed), with from, to and why.",
    ),
    EventSpec(
        "engagement.conversation.reopened",
        c.ConversationReopened,
        "engagement",
        "The customer wrote again within the reopen window, so a resolved conversation opened again.",
    ),
    EventSpec(
        "engagement.conversation.unassigned",
        c.ConversationUnassigned,
        "engagement",
        "A conversation went back to the queue (its agent went offline or was deactivated, or it was moved).",
    ),
    EventSpec(
        "engagement.conversation.merged",
        c.ConversationMerged,
        "engagement",
        "Two conversations of one customer were merged into one; the other was closed.",
    ),
    EventSpec(
        "engagement.reply.requested",
        c.ReplyRequested,
        "engagement",
        "An agent's reply was recorded; listening sends it through the customer's channel.",
    ),
    EventSpec(
        "engagement.webhook.disabled",
        c.WebhookDisabled,
        "engagement",
        "A partner webhook subscription failed too many times in a row and was disabled; its admins "
        "should fix the endpoint and resume it.",
    ),
    EventSpec(
        "engagement.sla.warning",
        c.SlaWarning,
        "engagement",
        "80 % of a conversation's first-response or resolution target has elapsed (once per target).",
    ),
    EventSpec(
        "engagement.sla.breached",
        c.SlaBreached,
        "engagement",
        "A conversation's first-response or resolution target passed unmet (once per target).",
    ),
    EventSpec(
        "listening.brand_post.received",
        c.BrandPostReceived,
        "listening",
        "The brand's own account posted (a reply in a thread, a message echo): an outbound message, "
        "never a mention or a customer.",
    ),
    EventSpec(
        "engagement.message.created",
        c.MessageCreated,
        "engagement",
        "A message joined a conversation: a customer's post, an agent's reply (queued), the brand's "
        "own post.",
    ),
    EventSpec(
        "engagement.message.updated",
        c.MessageUpdated,
        "engagement",
        "An outbound message was sent (with the platform's id) or failed (with the reason).",
    ),
    EventSpec(
        "engagement.conversation.first_responded",
        c.ConversationFirstResponded,
        "engagement",
        "The brand answered a conversation for the first time; the first-response clock stops.",
    ),
    EventSpec(
        "engagement.survey.answered",
        c.SurveyAnswered,
        "engagement",
        "A customer answered the CSAT or NPS survey of a resolved conversation (by reply or by its link).",
    ),
    EventSpec(
        "privacy.consent.changed",
        c.ConsentChanged,
        "profiles",
        "A person's consent ledger changed (a purpose granted or withdrawn, an objection, a restriction, a "
        "merge): their whole current state, which the consent projection follows.",
    ),
    EventSpec(
        "privacy.consent.captured",
        c.ConsentCaptured,
        "engagement",
        "A person opted in or out where they talk to the brand (a keyword, a survey); profiles records it.",
    ),
    EventSpec(
        "privacy.policy.changed",
        c.PrivacyPolicyChanged,
        "profiles",
        "A tenant's privacy policy changed: the lawful basis per purpose and the retention period.",
    ),
    EventSpec(
        "privacy.audit.recorded",
        c.AuditRecorded,
        "gateway",
        "An access to a person's data was allowed or refused (the gateway and the services record them; "
        "profiles keeps the log).",
    ),
    EventSpec(
        "privacy.export.requested",
        c.ExportRequested,
        "profiles",
        "A person asked for their data (Art. 15/20): every service answers with what it holds.",
    ),
    EventSpec(
        "privacy.export.part",
        c.ExportPart,
        "profiles",
        "One service's part of an export (listening, profiles, engagement and metrics each send theirs).",
    ),
    EventSpec(
        "privacy.erasure.requested",
        c.ErasureRequested,
        "profiles",
        "A person asked to be erased (Art. 17): every service deletes or anonymises what it holds.",
    ),
    EventSpec(
        "privacy.erasure.completed",
        c.ErasureCompleted,
        "profiles",
        "One service erased what it held about a person, with counts (each service sends its own).",
    ),
    EventSpec(
        "privacy.subject.erased",
        c.SubjectErased,
        "profiles",
        "A person was erased everywhere; partners erase them too (an opaque reference, no personal data).",
    ),
)


def _index() -> tuple[dict[str, EventSpec[c.Contract]], dict[type[c.Contract], EventSpec[c.Contract]]]:
    by_type: dict[str, EventSpec[c.Contract]] = {}
    by_model: dict[type[c.Contract], EventSpec[c.Contract]] = {}
    for spec in SPECS:
        # A type or a class named twice would make staging or consuming ambiguous: refuse to start.
        if spec.name in by_type or spec.model in by_model:
            raise RuntimeError(f"event {spec.name} ({spec.model.__name__}) is in the catalog twice")
        by_type[spec.name] = spec
        by_model[spec.model] = spec
    return by_type, by_model


CATALOG, _BY_MODEL = _index()

# One stream per domain that has events, plus the consumers' dead letters.
STREAMS: dict[str, str] = {spec.stream: f"{spec.domain}.>" for spec in SPECS} | {
    DEADLETTER_STREAM: "deadletter.>"
}


def spec_for(event_type: str) -> EventSpec[c.Contract]:
    """The catalog entry of an event type; unknown types are a programming error."""
    try:
        return CATALOG[event_type]
    except KeyError:
        raise KeyError(f"event type {event_type!r} is not in the catalog") from None


def spec_of(model: type[P]) -> EventSpec[P]:
    """The catalog entry of a payload class (exactly that class: a subclass is another event or none)."""
    try:
        spec = _BY_MODEL[model]
    except KeyError:
        raise KeyError(f"payload class {model.__name__} is not in the catalog") from None
    return spec  # type: ignore[return-value]


def stream_of(subject: str) -> str:
    """The stream holding a subject or a domain's wildcard (`listening.>` → `LISTENING`)."""
    stream = subject.split(".", 1)[0].upper()
    if stream not in STREAMS:
        raise KeyError(f"no stream holds {subject!r}")
    return stream
