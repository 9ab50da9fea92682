"""Folding events into counters with one upsert per event (inside the consumer's inbox transaction)."""

from __future__ import annotations

import re
from collections import Counter as Tally
from datetime import UTC, date, datetime

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from services.metrics.models import METRIC_MAX, Counter
from shared.events.contracts import Analysis, ConversationOpened, MentionPayload
from shared.languages import fold_language

_UNSAFE = re.compile(r"[^a-z0-9_-]+")


def bucket_of(moment: datetime) -> date:
    """The UTC day of an event's own time (a naive time is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).date()


def label(value: str) -> str:
    """A dimension value made safe for a metric name (lower case, no dots, bounded)."""
    cleaned = _UNSAFE.sub("_", value.strip().lower()).strip("_")
    return cleaned[:40] or "unknown"


async def increment(session: AsyncSession, *, tenant_id: str, bucket: date, metrics: Tally[str]) -> None:
    """Add each count to its (tenant, day, metric) counter, creating missing counters (one statement)."""
    if not metrics:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(Counter).values(
        [
            {"tenant_id": tenant_id, "bucket": bucket, "metric": name[:METRIC_MAX], "value": count}
            for name, count in sorted(metrics.items())
        ]
    )
    table = Counter.__table__  # type: ignore[attr-defined]
    stmt = stmt.on_conflict_do_update(
        index_elements=["tenant_id", "bucket", "metric"],
        set_={"value": table.c.value + stmt.excluded.value},
    )
    await session.execute(stmt)


async def count_mention(session: AsyncSession, *, tenant_id: str, mention: MentionPayload) -> None:
    """listening.mention.received: total, and by sentiment, language, intent and platform."""
    analysis = mention.analysis
    metrics = Tally(
        [
            "mentions",
            f"mentions.sentiment.{analysis.sentiment.label}",
            f"mentions.language.{label(fold_language(analysis.language))}",
            f"mentions.intent.{analysis.intent}",
            f"mentions.platform.{label(mention.platform)}",
        ]
    )
    await increment(session, tenant_id=tenant_id, bucket=bucket_of(mention.created_at), metrics=metrics)


def _dimensions(analysis: Analysis) -> list[str]:
    return [
        f"mentions.sentiment.{analysis.sentiment.label}",
        f"mentions.language.{label(fold_language(analysis.language))}",
        f"mentions.intent.{analysis.intent}",
    ]


async def move_mention(
    session: AsyncSession, *, tenant_id: str, created_at: datetime, previous: Analysis, analysis: Analysis
) -> None:
    """listening.mention.reanalysed / .edited: move the mention from its old labels to its new ones."""
    metrics: Tally[str] = Tally()
    metrics.subtract(_dimensions(previous))
    metrics.update(_dimensions(analysis))
    changed = Tally({name: count for name, count in metrics.items() if count != 0})
    await increment(session, tenant_id=tenant_id, bucket=bucket_of(created_at), metrics=changed)


async def uncount_mention(
    session: AsyncSession, *, tenant_id: str, created_at: datetime, platform: str, analysis: Analysis
) -> None:
    """listening.mention.redacted: the post is gone, so it leaves every count it was in."""
    metrics: Tally[str] = Tally()
    metrics.subtract(["mentions", *_dimensions(analysis), f"mentions.platform.{label(platform)}"])
    await increment(session, tenant_id=tenant_id, bucket=bucket_of(created_at), metrics=metrics)


async def count_profile_created(session: AsyncSession, *, tenant_id: str, created_at: datetime) -> None:
    """profiles.profile.created."""
    await increment(
        session, tenant_id=tenant_id, bucket=bucket_of(created_at), metrics=Tally(["profiles.created"])
    )


async def count_conversation_opened(
    session: AsyncSession, *, tenant_id: str, opened: ConversationOpened
) -> None:
    """engagement.conversation.opened."""
    await increment(
        session,
        tenant_id=tenant_id,
        bucket=bucket_of(opened.opened_at),
        metrics=Tally(["conversations.opened"]),
    )


async def count_conversation_assigned(
    session: AsyncSession, *, tenant_id: str, assigned_at: datetime
) -> None:
    """engagement.conversation.assigned."""
    await increment(
        session, tenant_id=tenant_id, bucket=bucket_of(assigned_at), metrics=Tally(["conversations.assigned"])
    )
