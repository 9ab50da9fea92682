"""Platform compliance: a post deleted, withheld or edited, or its author erased, changes here too.

Redaction blanks the stored text (and the author for `user_delete`), keeps the row and its counts'
correction information, and stages `listening.mention.redacted` with the analysis downstream counted
it by, so metrics, profiles and engagement can take it back. An edit stores the new text, re-analyses
it with the fast tier at once (the analysis worker re-scores it with the quality tier later) and stages
`listening.mention.edited`. A mention not yet analysed was never announced: it is closed silently.
An event arriving through a channel touches only the mentions stored through that same channel.
Every function adds to the caller's transaction; the caller commits.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from services.listening.analysis import Analyser
from services.listening.channels.connectors import ComplianceEvent
from services.listening.mentions.analysing import apply
from services.listening.mentions.logic import SOURCE, analysis_of
from services.listening.models import Mention
from shared.db import utcnow
from shared.events.contracts import MentionEdited, MentionRedacted
from shared.events.envelope import new_event
from shared.events.outbox import stage
from shared.tenancy import scoped

log = logging.getLogger("rapport.listening.compliance")

RedactionReason = Literal["deleted", "withheld", "user_deleted"]
REASONS: dict[str, RedactionReason] = {
    "delete": "deleted",
    "withheld": "withheld",
    "user_delete": "user_deleted",
}


async def _targets(
    session: AsyncSession, *, tenant_id: str, channel_id: str, event: ComplianceEvent
) -> list[Mention]:
    # A channel speaks for the posts that came through it only: its key signs its own deliveries, so a
    # delete or edit through it must not reach posts another channel or the ingest API stored.
    stmt = (
        scoped(Mention, tenant_id)
        .where(Mention.platform == event.platform)
        .where(Mention.channel_id == channel_id)
    )
    if event.kind == "user_delete":
        stmt = stmt.where(Mention.author_id == event.author_id)
    else:
        stmt = stmt.where(Mention.external_id == event.external_id)
    return list((await session.execute(stmt)).scalars())


def redact(session: AsyncSession, mention: Mention, *, reason: RedactionReason) -> bool:
    """Blank the post (and its author for an erasure); stage the event if it had been announced."""
    if mention.redacted_at is not None:
        if reason != "user_deleted" or not mention.author_handle:
            return False
    previous = analysis_of(mention) if mention.analysis_status == "analysed" else None
    already = mention.redacted_at is not None
    mention.text = ""
    mention.url = None
    mention.sketch = ""
    mention.needs_rescore = False
    if reason == "user_deleted":
        mention.author_handle = ""
        mention.author_display_name = None
        mention.author_followers = None
        mention.author_id = None
    mention.redacted_at = mention.redacted_at or utcnow()
    mention.redaction_reason = mention.redaction_reason or reason
    if mention.analysis_status != "analysed":
        # Never announced: close it so the analysis worker leaves it alone.
        mention.analysis_status = "analysed"
    elif previous is not None and not already:
        stage(
            session,
            new_event(
                MentionRedacted(
                    mention_id=mention.id,
                    platform=mention.platform,
                    created_at=mention.created_at,
                    reason=reason,
                    analysis=previous,
                ),
                source=SOURCE,
                tenant_id=mention.tenant_id,
                subject=mention.id,
            ),
        )
    log.info("mention.redacted", extra={"mention_id": mention.id, "reason": reason})
    return True


async def edit(session: AsyncSession, mention: Mention, *, text: str) -> bool:
    """Store the edited text, re-analyse it and stage `listening.mention.edited` (if announced)."""
    if mention.redacted_at is not None or not text or text == mention.text:
        return False
    mention.text = text
    mention.edited_at = utcnow()
    if mention.analysis_status != "analysed":
        return True  # the worker analyses the current text when it gets to it
    previous = analysis_of(mention)
    # A fast-tier analyser holds nothing but the compiled lexicons (shared, read-only): built in microseconds.
    result = await asyncio.to_thread(Analyser(default_tier="fast").analyse, text, "fast")
    apply(mention, result)
    mention.needs_rescore = True
    current = analysis_of(mention)
    if previous is not None and current is not None:
        stage(
            session,
            new_event(
                MentionEdited(
                    mention_id=mention.id,
                    created_at=mention.created_at,
                    text=text,
                    previous=previous,
                    analysis=current,
                ),
                source=SOURCE,
                tenant_id=mention.tenant_id,
                subject=mention.id,
            ),
        )
    log.info("mention.edited", extra={"mention_id": mention.id})
    return True


async def apply_compliance(
    session: AsyncSession, *, tenant_id: str, channel_id: str, event: ComplianceEvent
) -> tuple[int, int]:
    """Apply one compliance event that arrived through a channel to the posts stored through that
    channel: (redacted, edited) counts."""
    redacted = edited = 0
    for mention in await _targets(session, tenant_id=tenant_id, channel_id=channel_id, event=event):
        if event.kind == "edit":
            if event.text and await edit(session, mention, text=event.text):
                edited += 1
        elif redact(session, mention, reason=REASONS[event.kind]):
            redacted += 1
    return redacted, edited
