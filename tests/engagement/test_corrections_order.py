"""Corrections that overtake the resolution: listening's re-analysis or redaction of a mention can reach
engagement before profiles' `profiles.mention.resolved`. The resolution then routes the mention with the
newer analysis, and never with the removed text; a resolution delivered twice stays one message."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.engagement.logic.corrections import reanalyse_mention, redact_mention, resolve_mention
from services.engagement.models import Message, SeenMention
from shared.db import create_engine, session_factory
from shared.events.contracts import Analysis, MentionReanalysed, MentionRedacted, Sentiment
from tests.engagement.test_rules import TENANT, forget_all, mention, resolved
from tests.helpers import create_tables

pytestmark = pytest.mark.anyio


@pytest.fixture
async def session(tmp_path: Path) -> AsyncIterator[AsyncSession]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'engagement.db'}")
    await create_tables(engine)
    forget_all()
    async with session_factory(engine)() as session:
        yield session
    forget_all()
    await engine.dispose()


def complaint() -> Analysis:
    return Analysis(language="en", sentiment=Sentiment(label="negative", score=-0.9), intent="complaint")


async def messages(session: AsyncSession, mention_id: str) -> list[Message]:
    stmt = select(Message).where(col(Message.mention_id) == mention_id)
    return list((await session.execute(stmt)).scalars().all())


async def test_a_reanalysis_before_the_resolution_routes_it_with_the_newer_analysis(
    session: AsyncSession,
) -> None:
    payload = mention(text_="thanks for the update", intent="other", label="neutral")
    reanalysed = MentionReanalysed(
        mention_id=payload.mention_id,
        created_at=datetime(2026, 1, 6, tzinfo=UTC),
        previous=payload.analysis,
        analysis=complaint(),
        reason="label",
    )
    assert await reanalyse_mention(session, tenant_id=TENANT, reanalysed=reanalysed) is None
    await session.commit()

    message = await resolve_mention(session, tenant_id=TENANT, resolved=resolved(payload))
    await session.commit()

    assert message is not None and message.intent == "complaint"
    seen = (await session.execute(select(SeenMention))).scalars().one()
    assert seen.profile_id is not None
    assert '"intent":"complaint"' in (seen.payload or "")


async def test_a_redaction_before_the_resolution_keeps_the_text_out(session: AsyncSession) -> None:
    payload = mention(text_="my card number is in this complaint")
    gone = MentionRedacted(
        mention_id=payload.mention_id,
        platform=payload.platform,
        created_at=payload.created_at,
        reason="deleted",
        analysis=payload.analysis,
    )
    await redact_mention(session, tenant_id=TENANT, redacted=gone)
    await session.commit()

    message = await resolve_mention(session, tenant_id=TENANT, resolved=resolved(payload))
    await session.commit()

    assert message is not None and message.text == ""
    seen = (await session.execute(select(SeenMention))).scalars().one()
    assert seen.redacted and "card number" not in (seen.payload or "")


async def test_a_resolution_delivered_twice_is_one_message(session: AsyncSession) -> None:
    event = resolved(mention())
    first = await resolve_mention(session, tenant_id=TENANT, resolved=event)
    await session.commit()
    again = await resolve_mention(session, tenant_id=TENANT, resolved=event)
    await session.commit()

    assert first is not None and again is not None and first.id == again.id
    assert len(await messages(session, event.mention.mention_id)) == 1
    assert len((await session.execute(select(SeenMention))).scalars().all()) == 1
