"""listening's handlers of its own events: a mention's analysis or text changed after it was matched."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.listening.logic.queries import QueryMatcher, resync_mention
from services.listening.state import ListeningState
from shared.events.contracts import MentionEdited, MentionReanalysed, MentionRedacted
from shared.events.envelope import CloudEvent
from shared.events.inbox import TxHandler
from shared.service import Subscription

Changed = MentionReanalysed | MentionEdited | MentionRedacted
CONTRACTS: dict[str, type[Changed]] = {
    "listening.mention.reanalysed": MentionReanalysed,
    "listening.mention.edited": MentionEdited,
    "listening.mention.redacted": MentionRedacted,
}


def subscriptions(state: ListeningState) -> list[Subscription]:
    """listening's subscriptions; its handlers match against the app's compiled queries."""
    on_mention_changed = _on_mention_changed(state.matcher)
    return [
        Subscription(
            durable="listening-queries-reanalysed",
            event_type="listening.mention.reanalysed",
            handler=on_mention_changed,
        ),
        Subscription(
            durable="listening-queries-edits",
            event_type="listening.mention.edited",
            handler=on_mention_changed,
        ),
        Subscription(
            durable="listening-queries-redactions",
            event_type="listening.mention.redacted",
            handler=on_mention_changed,
        ),
    ]


def _on_mention_changed(matcher: QueryMatcher) -> TxHandler:
    async def on_mention_changed(session: AsyncSession, event: CloudEvent) -> None:
        """listening.mention.reanalysed / .edited / .redacted → the mention's query matches and buckets
        follow."""
        data = CONTRACTS[event.type].model_validate(event.data)
        await resync_mention(session, matcher=matcher, tenant_id=event.tenantid, mention_id=data.mention_id)

    return on_mention_changed
