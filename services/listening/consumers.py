"""listening's handlers of its own events: a mention's analysis or text changed after it was matched."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.listening.queries.logic import resync_mention
from shared.events.contracts import MentionEdited, MentionReanalysed, MentionRedacted
from shared.events.envelope import CloudEvent
from shared.service import Subscription

Changed = MentionReanalysed | MentionEdited | MentionRedacted
CONTRACTS: dict[str, type[Changed]] = {
    "listening.mention.reanalysed": MentionReanalysed,
    "listening.mention.edited": MentionEdited,
    "listening.mention.redacted": MentionRedacted,
}


async def on_mention_changed(session: AsyncSession, event: CloudEvent) -> None:
    """listening.mention.reanalysed / .edited / .redacted → the mention's query matches and buckets follow."""
    data = CONTRACTS[event.type].model_validate(event.data)
    await resync_mention(session, tenant_id=event.tenantid, mention_id=data.mention_id)


SUBSCRIPTIONS: list[Subscription] = [
    Subscription(
        durable="listening-queries-reanalysed",
        event_type="listening.mention.reanalysed",
        handler=on_mention_changed,
    ),
    Subscription(
        durable="listening-queries-edits", event_type="listening.mention.edited", handler=on_mention_changed
    ),
    Subscription(
        durable="listening-queries-redactions",
        event_type="listening.mention.redacted",
        handler=on_mention_changed,
    ),
]
