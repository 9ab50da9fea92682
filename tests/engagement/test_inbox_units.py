"""The inbox's rules without the stack: what is addressed to the brand, priorities, the reopen window
(with a clock of the test's own) and the snooze clock."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.engagement.logic.conversations import receive_mention, update_conversation, wake_snoozed
from services.engagement.logic.routing import is_actionable, priority_for
from services.engagement.models import Conversation, StatusChange
from services.engagement.schemas import ConversationUpdate
from shared.db import create_engine, session_factory
from shared.events.contracts import MentionPayload, MentionReceived, MentionResolved, ProfileSnapshot
from tests.helpers import create_tables

T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)
WINDOW = timedelta(days=7)
TENANT = "t1"


def mention(
    *,
    intent: str = "complaint",
    label: str = "negative",
    influence: float | None = None,
    channel_id: str | None = None,
    kinds: tuple[str, ...] = (),
    in_reply_to: str | None = None,
) -> MentionReceived:
    return MentionReceived.model_validate(
        {
            "mention_id": str(uuid.uuid4()),
            "platform": "x",
            "external_id": uuid.uuid4().hex,
            "text": "My order arrived broken.",
            "created_at": T0,
            "author": {"handle": "@sam", "display_name": "Sam", "influence": influence},
            "analysis": {
                "language": "en",
                "sentiment": {"label": label, "score": -0.8 if label == "negative" else 0.0},
                "intent": intent,
            },
            "channel_id": channel_id,
            "in_reply_to": in_reply_to,
            "matched_queries": [{"query_id": f"q-{kind}", "kind": kind} for kind in kinds],
        }
    )


def resolved(payload: MentionPayload, profile_id: str = "p1") -> MentionResolved:
    # As engagement receives it: the mention's extra fields travel as plain JSON.
    return MentionResolved.model_validate_json(
        MentionResolved(profile_id=profile_id, mention=payload).model_dump_json()
    )


@pytest.mark.parametrize(
    ("kwargs", "actionable"),
    [
        ({}, True),  # the ingest API without a query match: the tenant sent it itself
        ({"kinds": ("brand",)}, True),
        ({"kinds": ("brand", "competitor")}, True),
        ({"kinds": ("competitor",)}, False),
        ({"kinds": ("topic",)}, False),
        ({"kinds": ("competitor",), "channel_id": "c1"}, True),  # addressed to the brand's channel
        ({"channel_id": "c1", "intent": "praise", "label": "positive"}, False),
        ({"kinds": ("brand",), "intent": "question", "label": "neutral"}, True),
        ({"kinds": ("brand",), "intent": "purchase_intent", "label": "neutral"}, False),
    ],
)
def test_what_is_actionable(kwargs: dict[str, Any], actionable: bool) -> None:
    assert is_actionable(resolved(mention(**kwargs)).mention) is actionable


def test_priorities_and_their_reasons() -> None:
    assert priority_for(mention()) == ("high", "negative complaint")
    assert priority_for(mention(intent="complaint", label="neutral")) == ("normal", "neutral complaint")
    assert priority_for(mention(intent="question", label="neutral", influence=69.9)) == (
        "normal",
        "neutral question",
    )
    assert priority_for(mention(influence=70)) == (
        "urgent",
        "negative complaint; influential author (influence 70)",
    )
    # The profile's influence (all the author's posts) wins over this post's.
    profile = ProfileSnapshot(profile_id="p1", influence=82.5)
    assert priority_for(mention(intent="question", label="neutral", influence=10), profile) == (
        "high",
        "neutral question; influential author (influence 82.5)",
    )


@pytest.fixture
async def session(tmp_path: Path) -> AsyncIterator[AsyncSession]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'engagement.db'}")
    await create_tables(engine)
    async with session_factory(engine)() as session:
        yield session
    await engine.dispose()


async def conversations(session: AsyncSession) -> list[Conversation]:
    rows = await session.execute(select(Conversation).order_by(Conversation.created_at))  # type: ignore[arg-type]
    return list(rows.scalars().all())


async def resolve(session: AsyncSession, conversation: Conversation, at: datetime) -> None:
    conversation.status, conversation.resolved_at = "resolved", at
    session.add(conversation)
    await session.commit()


@pytest.mark.anyio
async def test_a_post_within_the_window_reopens_and_after_it_opens_a_new_one(session: AsyncSession) -> None:
    opening = mention()
    await receive_mention(session, tenant_id=TENANT, resolved=resolved(opening), reopen_window=WINDOW, now=T0)
    await session.commit()
    [first] = await conversations(session)
    await resolve(session, first, T0 + timedelta(hours=1))

    within = T0 + timedelta(hours=1) + WINDOW
    await receive_mention(
        session,
        tenant_id=TENANT,
        resolved=resolved(mention(in_reply_to=opening.external_id)),
        reopen_window=WINDOW,
        now=within,
    )
    await session.commit()
    [again] = await conversations(session)
    assert (again.id, again.status, again.reopen_count, again.resolved_at) == (first.id, "open", 1, None)

    await resolve(session, again, within)
    after = within + WINDOW + timedelta(seconds=1)
    await receive_mention(
        session,
        tenant_id=TENANT,
        resolved=resolved(mention(in_reply_to=opening.external_id)),
        reopen_window=WINDOW,
        now=after,
    )
    await session.commit()
    old, new = await conversations(session)
    assert (old.id, old.status, old.reopen_count) == (first.id, "resolved", 1)
    assert (new.status, new.reopen_count) == ("open", 0)
    assert new.id != first.id and new.thread_key == first.thread_key


@pytest.mark.anyio
async def test_snooze_clock_wakes_only_conversations_whose_time_has_come(session: AsyncSession) -> None:
    for profile_id in ("p1", "p2"):
        await receive_mention(session, tenant_id=TENANT, resolved=resolved(mention(), profile_id), now=T0)
    await session.commit()
    soon, later = await conversations(session)
    now = datetime.now(UTC)
    for conversation, delay in ((soon, timedelta(minutes=1)), (later, timedelta(hours=1))):
        update = ConversationUpdate(snoozed_until=now + delay)
        await update_conversation(
            session, tenant_id=TENANT, conversation_id=conversation.id, update_in=update, by_user_id="u1"
        )

    assert await wake_snoozed(session, now=now + timedelta(minutes=2)) == 1
    await session.refresh(soon)
    await session.refresh(later)
    assert (soon.status, soon.snoozed_until, later.status) == ("open", None, "snoozed")
    moves = (
        await session.execute(
            select(StatusChange)
            .where(StatusChange.conversation_id == soon.id)
            .order_by(StatusChange.created_at)
        )
    ).scalars()
    assert [(m.from_status, m.to_status, m.cause) for m in moves] == [
        ("open", "snoozed", "agent"),
        ("snoozed", "open", "snooze"),
    ]
    assert await wake_snoozed(session, now=now + timedelta(minutes=2)) == 0
