"""engagement's event handlers: the agents projection, the mention router (with consent keywords) and
tenants' privacy policies (retention)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from services.engagement.logic.agents import project_user, update_agent
from services.engagement.logic.corrections import reanalyse_mentions, redact_mention, resolve_mentions
from services.engagement.logic.replies import receive_brand_post, record_failed, record_sent
from services.engagement.settings import EngagementSettings
from services.engagement.tenant_privacy import retention
from services.engagement.tenant_privacy.capture import capture_keyword
from shared.events.contracts import (
    BrandPostReceived,
    MentionReanalysed,
    MentionRedacted,
    MentionResolved,
    PrivacyPolicyChanged,
    ReplyFailed,
    ReplySent,
    UserCreated,
    UserUpdated,
)
from shared.events.envelope import Event
from shared.service import Subscription
from shared.telemetry import caused_by


async def on_mention_redacted(session: AsyncSession, event: Event[MentionRedacted]) -> None:
    """listening.mention.redacted → the message's text is removed."""
    await redact_mention(session, tenant_id=event.tenantid, redacted=event.data)


async def on_reply_sent(session: AsyncSession, event: Event[ReplySent]) -> None:
    """listening.reply.sent → the outbound message is sent, with the platform's id."""
    await record_sent(session, tenant_id=event.tenantid, sent=event.data)


async def on_reply_failed(session: AsyncSession, event: Event[ReplyFailed]) -> None:
    """listening.reply.failed → the outbound message failed, with the reason."""
    await record_failed(session, tenant_id=event.tenantid, failed=event.data)


async def on_policy_changed(session: AsyncSession, event: Event[PrivacyPolicyChanged]) -> None:
    """privacy.policy.changed → the tenant's retention period, swept by the retention job."""
    await retention.on_policy_changed(session, tenant_id=event.tenantid, policy=event.data)


async def on_brand_post(session: AsyncSession, event: Event[BrandPostReceived]) -> None:
    """listening.brand_post.received → the brand's own post joins the conversation it answers."""
    await receive_brand_post(session, tenant_id=event.tenantid, post=event.data)


E = TypeVar("E", bound=Event[Any])


def _by_tenant(events: Sequence[E]) -> dict[str, list[E]]:
    """A fetched batch's events per tenant, each tenant's in the batch's order."""
    grouped: dict[str, list[E]] = {}
    for event in events:
        grouped.setdefault(event.tenantid, []).append(event)
    return grouped


def subscriptions(settings: EngagementSettings) -> list[Subscription[Any]]:
    """The handlers, the mention router's with the settings' reopen window."""
    reopen_window = timedelta(seconds=settings.reopen_window_s)
    capacity = settings.agent_capacity

    async def on_user_created(session: AsyncSession, event: Event[UserCreated]) -> None:
        """identity.user.created → keep agents in the assignment pool (offline until they say otherwise)."""
        await project_user(session, tenant_id=event.tenantid, user=event.data, capacity=capacity)

    async def on_user_updated(session: AsyncSession, event: Event[UserUpdated]) -> None:
        """identity.user.updated → a deactivated user (or one no longer an agent) leaves the pool; their
        conversations go back to the queue."""
        await update_agent(session, tenant_id=event.tenantid, user=event.data, capacity=capacity)

    async def on_mentions_resolved(session: AsyncSession, events: Sequence[Event[MentionResolved]]) -> None:
        """profiles.mention.resolved, a fetched batch at once (per tenant, in order) → open, continue or
        reopen a conversation for actionable mentions."""
        for tenant_id, batch in _by_tenant(events).items():
            resolved, causes = [e.data for e in batch], [e.id for e in batch]
            messages = await resolve_mentions(
                session,
                tenant_id=tenant_id,
                resolved=resolved,
                reopen_window=reopen_window,
                causes=causes,
            )
            for item, cause, message in zip(resolved, causes, messages, strict=True):
                # A private message that is an opt-in/out keyword: consent captured
                # (tenant_privacy.capture).
                with caused_by(cause):
                    await capture_keyword(session, tenant_id=tenant_id, resolved=item, message=message)

    async def on_mentions_reanalysed(
        session: AsyncSession, events: Sequence[Event[MentionReanalysed]]
    ) -> None:
        """listening.mention.reanalysed, a fetched batch at once (per tenant, in order) → labels follow;
        a mention that became actionable gets its conversation."""
        for tenant_id, batch in _by_tenant(events).items():
            await reanalyse_mentions(
                session,
                tenant_id=tenant_id,
                reanalysed=[e.data for e in batch],
                reopen_window=reopen_window,
                causes=[e.id for e in batch],
            )

    return [
        Subscription(durable="engagement-users", event=UserCreated, handler=on_user_created),
        Subscription(durable="engagement-user-updates", event=UserUpdated, handler=on_user_updated),
        Subscription(
            durable="engagement-mentions", event=MentionResolved, batch_handler=on_mentions_resolved
        ),
        Subscription(
            durable="engagement-reanalysed", event=MentionReanalysed, batch_handler=on_mentions_reanalysed
        ),
        Subscription(durable="engagement-redactions", event=MentionRedacted, handler=on_mention_redacted),
        Subscription(durable="engagement-replies-sent", event=ReplySent, handler=on_reply_sent),
        Subscription(durable="engagement-replies-failed", event=ReplyFailed, handler=on_reply_failed),
        Subscription(durable="engagement-brand-posts", event=BrandPostReceived, handler=on_brand_post),
        Subscription(
            durable="engagement-privacy-policy", event=PrivacyPolicyChanged, handler=on_policy_changed
        ),
    ]
