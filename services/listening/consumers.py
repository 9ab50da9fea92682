"""listening's event handlers: its own events (a mention's analysis or text changed after it was matched),
engagement's reply requests (sent through the tenant's channel), tenants' privacy policies (retention) and
privacy requests (`privacy`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.listening.channels.replies import request_reply
from services.listening.privacy import erase_person, export_person
from services.listening.queries.logic import resync_mentions
from services.listening.state import ListeningState
from services.listening.tenant_privacy.retention import on_policy_changed
from shared.events.contracts import (
    MentionEdited,
    MentionReanalysed,
    MentionRedacted,
    PrivacyPolicyChanged,
    ReplyRequested,
)
from shared.events.envelope import Event
from shared.privacy import privacy_subscriptions
from shared.service import Subscription


def subscriptions(state: ListeningState) -> list[Subscription[Any]]:
    """listening's subscriptions; its handlers match against the app's compiled queries."""
    matcher = state.matcher

    async def on_mentions_changed(
        session: AsyncSession, events: Sequence[Event[MentionReanalysed | MentionEdited | MentionRedacted]]
    ) -> None:
        """listening.mention.reanalysed / .edited / .redacted → the mentions' query matches and buckets
        follow (a fetched batch at once: re-scores announce many changes together)."""
        await resync_mentions(
            session, matcher=matcher, mentions=[(event.tenantid, event.data.mention_id) for event in events]
        )

    async def on_reply_requested(session: AsyncSession, event: Event[ReplyRequested]) -> None:
        """engagement.reply.requested → the reply is queued for the channel's sender, or fails up front."""
        await request_reply(session, tenant_id=event.tenantid, request=event.data)

    async def on_policy(session: AsyncSession, event: Event[PrivacyPolicyChanged]) -> None:
        """privacy.policy.changed → the tenant's retention period, swept by the retention job."""
        await on_policy_changed(session, tenant_id=event.tenantid, policy=event.data)

    return [
        Subscription(durable="listening-privacy-policy", event=PrivacyPolicyChanged, handler=on_policy),
        Subscription(durable="listening-replies", event=ReplyRequested, handler=on_reply_requested),
        Subscription(
            durable="listening-queries-reanalysed", event=MentionReanalysed, batch_handler=on_mentions_changed
        ),
        Subscription(
            durable="listening-queries-edits", event=MentionEdited, batch_handler=on_mentions_changed
        ),
        Subscription(
            durable="listening-queries-redactions", event=MentionRedacted, batch_handler=on_mentions_changed
        ),
        # privacy.export.requested / privacy.erasure.requested → the person's posts and replies.
        *privacy_subscriptions("listening", export_person=export_person, erase_person=erase_person),
    ]
