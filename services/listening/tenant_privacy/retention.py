"""Retention in listening: a tenant's mentions older than its period go, with what hangs off them.

A mention's age is its post's own time on its platform (`created_at`, the tenant's page order index),
so an import of old posts is swept at the next round too. With a mention go its query matches, its
near-duplicate keys, agents' corrections of it and its match flag; the hourly query buckets (counts,
no personal data) stay, as do metrics' aggregates. Replies engagement asked to send (their text and
recipient) go once sent or failed and older than the period. See `shared.retention` for the job.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from services.listening.models import (
    MatchFlag,
    Mention,
    MentionLabel,
    MentionQueryMatch,
    MentionSketchKey,
    Reply,
)
from services.listening.settings import ListeningSettings
from services.listening.tenant_privacy.models import ListeningRetention
from shared.events.contracts import PrivacyPolicyChanged
from shared.retention import RetentionJob, Step, apply_policy

# The tables that name a mention by its id (deleted with it).
_BY_MENTION = (MentionQueryMatch, MentionSketchKey, MentionLabel, MatchFlag)


async def delete_mentions(session: AsyncSession, tenant_id: str, cutoff: datetime, batch: int) -> int:
    """The tenant's oldest mentions posted before `cutoff`, at most `batch`, and their dependent rows."""
    ids = list(
        (
            await session.execute(
                select(col(Mention.id))
                .where(col(Mention.tenant_id) == tenant_id, col(Mention.created_at) < cutoff)
                .order_by(col(Mention.created_at))
                .limit(batch)
            )
        ).scalars()
    )
    if not ids:
        return 0
    for table in _BY_MENTION:
        await session.execute(
            delete(table).where(col(table.tenant_id) == tenant_id, col(table.mention_id).in_(ids))
        )
    await session.execute(delete(Mention).where(col(Mention.id).in_(ids)))
    return len(ids)


async def delete_replies(session: AsyncSession, tenant_id: str, cutoff: datetime, batch: int) -> int:
    """The tenant's finished replies (sent or failed) created before `cutoff`, at most `batch`."""
    ids = list(
        (
            await session.execute(
                select(col(Reply.id))
                .where(
                    col(Reply.tenant_id) == tenant_id,
                    col(Reply.status).in_(("sent", "failed")),
                    col(Reply.created_at) < cutoff,
                )
                .limit(batch)
            )
        ).scalars()
    )
    if ids:
        await session.execute(delete(Reply).where(col(Reply.id).in_(ids)))
    return len(ids)


STEPS = (Step("mentions", delete_mentions), Step("replies", delete_replies))


def retention_job(sessions: async_sessionmaker[AsyncSession], settings: ListeningSettings) -> RetentionJob:
    """listening's retention job, on the settings' interval and batch size."""
    return RetentionJob(
        sessions,
        model=ListeningRetention,
        steps=STEPS,
        interval_s=settings.retention_interval_s,
        batch=settings.retention_batch,
    )


async def on_policy_changed(session: AsyncSession, *, tenant_id: str, policy: PrivacyPolicyChanged) -> None:
    """privacy.policy.changed → the tenant's retention period (swept at once when it has one)."""
    await apply_policy(session, ListeningRetention, tenant_id=tenant_id, policy=policy)
