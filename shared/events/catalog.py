"""Every event type in one place: its subject, its stream and its payload model."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from shared.events import contracts as c

# One stream per domain; the subject of an event is its type.
STREAMS: dict[str, str] = {
    "IDENTITY": "identity.>",
    "LISTENING": "listening.>",
    "PROFILES": "profiles.>",
    "ENGAGEMENT": "engagement.>",
    "PRIVACY": "privacy.>",
    "DEADLETTER": "deadletter.>",
}


@dataclass(frozen=True)
class EventSpec:
    name: str
    model: type[BaseModel]
    description: str

    @property
    def subject(self) -> str:
        return self.name

    @property
    def stream(self) -> str:
        return self.name.split(".", 1)[0].upper()


CATALOG: dict[str, EventSpec] = {
    spec.name: spec
    for spec in (
        EventSpec("identity.tenant.created", c.TenantCreated, "A tenant signed up."),
        EventSpec("identity.user.created", c.UserCreated, "A user joined a tenant with a role."),
        EventSpec("identity.user.updated", c.UserUpdated, "A user's role or active flag changed."),
        EventSpec(
            "identity.user.deactivated",
            c.UserDeactivated,
            "A user was deactivated; their sessions ended and they cannot log in.",
        ),
        EventSpec(
            "identity.login.throttled",
            c.LoginThrottled,
            "Repeated failed logins locked an account or a client address for a while.",
        ),
        EventSpec(
            "listening.mention.received",
            c.MentionReceived,
            "A post was ingested, de-duplicated and analysed.",
        ),
        EventSpec(
            "listening.mention.reanalysed",
            c.MentionReanalysed,
            "A mention's analysis changed (quality re-score or agent correction).",
        ),
        EventSpec(
            "listening.mention.redacted",
            c.MentionRedacted,
            "A post was removed on its platform; its text is redacted everywhere.",
        ),
        EventSpec("listening.mention.edited", c.MentionEdited, "A post was edited on its platform."),
        EventSpec("listening.alert.raised", c.AlertRaised, "A listening query spiked."),
        EventSpec("profiles.profile.created", c.ProfileCreated, "A new customer profile was created."),
        EventSpec(
            "profiles.mention.resolved", c.MentionResolved, "A mention was attached to its customer profile."
        ),
        EventSpec(
            "engagement.conversation.opened",
            c.ConversationOpened,
            "An actionable mention opened a conversation.",
        ),
        EventSpec(
            "engagement.conversation.assigned",
            c.ConversationAssigned,
            "A conversation was assigned to an agent.",
        ),
    )
}


def spec_for(event_type: str) -> EventSpec:
    """The catalog entry of an event type; unknown types are a programming error."""
    try:
        return CATALOG[event_type]
    except KeyError:
        raise KeyError(f"event type {event_type!r} is not in the catalog") from None
