"""A fetched batch of resolved mentions routed at once (`corrections.resolve_mentions`, what the consumer
calls) ends as the same mentions routed one by one: the same conversations, messages, assignees (no agent
over capacity), priorities, SLA clocks, reopenings and events; a batch delivered again changes nothing;
an erased person's resolutions keep nothing."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlmodel import col

from services.engagement.logic import sla
from services.engagement.logic.conversations import update_conversation
from services.engagement.logic.corrections import resolve_mention, resolve_mentions
from services.engagement.models import (
    Agent,
    Conversation,
    ErasedProfile,
    Message,
    SeenMention,
    Survey,
)
from services.engagement.schemas import ConversationUpdate
from shared.db import begin_immediate, create_engine, session_factory, utcnow
from shared.events.contracts import MentionReceived, MentionResolved, ProfileSnapshot
from shared.events.outbox import OutboxMessage
from tests.engagement.test_rules import TENANT, forget_all, mention
from tests.helpers import create_tables

pytestmark = pytest.mark.anyio

AGENTS = ("a1", "a2", "a3")
CAPACITY = 2


def resolved_as(
    payload: MentionReceived, profile_id: str, *, influence: float | None = None
) -> MentionResolved:
    profile = ProfileSnapshot.model_validate({"profile_id": profile_id, "influence": influence or 0.0})
    return MentionResolved.model_validate_json(
        MentionResolved(profile_id=profile_id, mention=payload, profile=profile).model_dump_json()
    )


def dm(text_: str = "Where is my parcel?") -> MentionReceived:
    return mention(text_=text_, intent="question", label="neutral", platform="whatsapp")


def feed() -> list[MentionResolved]:
    """Customers writing in one batch: several messages on one direct thread, posts that each open a
    thread, an influential complaint, talk that opens nothing, a mention twice, an erased person, a
    customer back after a resolved conversation and one answering while pending."""
    twice = resolved_as(mention(kinds=("brand",)), "p-twice")
    return [
        resolved_as(dm(), "p-dm"),
        resolved_as(dm("Broken again!"), "p-back"),
        resolved_as(mention(kinds=("brand",)), "p-posts"),
        resolved_as(dm("And it is late again"), "p-dm"),
        resolved_as(mention(kinds=("brand",), influence=90.0), "p-loud", influence=90.0),
        resolved_as(mention(text_="nice weather", intent="other", label="positive"), "p-chat"),
        twice,
        resolved_as(mention(kinds=("brand",), language="de"), "p-posts"),
        resolved_as(dm(), "p-gone"),
        twice,
        resolved_as(dm("Yes, order 1234"), "p-pending"),
        resolved_as(mention(kinds=("brand",)), "p-more"),
        resolved_as(mention(kinds=("brand",)), "p-most"),
        resolved_as(dm("one more thing"), "p-dm"),
    ]


async def prepare(session: AsyncSession) -> None:
    """Agents online, an SLA policy, an erased person, a resolved and a pending conversation."""
    for agent_id in AGENTS:
        session.add(Agent(id=agent_id, tenant_id=TENANT, role="agent", presence="online", capacity=CAPACITY))
    session.add(ErasedProfile(tenant_id=TENANT, profile_id="p-gone"))
    await session.commit()
    for priority in ("normal", "high", "urgent"):
        await sla.put_policy(
            session,
            tenant_id=TENANT,
            priority=priority,  # type: ignore[arg-type]
            first_response_s=3600.0,
            resolution_s=86400.0,
            business_hours=False,
        )
    for profile_id, status in (("p-back", "resolved"), ("p-pending", "pending")):
        message = await resolve_mention(session, tenant_id=TENANT, resolved=resolved_as(dm(), profile_id))
        assert message is not None
        await session.commit()
        await update_conversation(
            session,
            tenant_id=TENANT,
            conversation_id=message.conversation_id,
            update_in=ConversationUpdate.model_validate({"status": status}),
            by_user_id="u-1",
        )


@pytest.fixture
async def engines(tmp_path: Path) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    one = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'one_by_one.db'}")
    batched = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'batched.db'}")
    for engine in (one, batched):
        await create_tables(engine)
    forget_all()
    yield one, batched
    forget_all()
    for engine in (one, batched):
        await engine.dispose()


async def outcome(session: AsyncSession, items: list[MentionResolved]) -> dict[str, Any]:
    """What routing left, comparable across databases: per mention its conversation (named by the first
    mention of the feed that landed there), assignee, team, priority, status, reopenings and whether its
    SLA clock runs; the events staged by type; the agents' loads."""
    messages = {m.mention_id: m for m in (await session.execute(select(Message))).scalars()}
    conversations = {c.id: c for c in (await session.execute(select(Conversation))).scalars()}
    names: dict[str, str] = {}
    per_mention: dict[str, Any] = {}
    for i, item in enumerate(items):
        message = messages.get(item.mention.mention_id)
        if message is None:
            per_mention[f"{i}"] = None
            continue
        conversation = conversations[message.conversation_id]
        name = names.setdefault(conversation.id, f"c{i}")
        per_mention[f"{i}"] = (
            name,
            conversation.assignee_id,
            conversation.team_id,
            conversation.priority,
            conversation.status,
            conversation.reopen_count,
            conversation.first_response_due_at is not None,
        )
    types = Counter((await session.execute(select(col(OutboxMessage.type)))).scalars())
    loads = Counter(
        c.assignee_id for c in conversations.values() if c.status in ("open", "pending", "snoozed")
    )
    return {"mentions": per_mention, "events": types, "loads": loads, "messages": len(messages)}


async def test_a_batch_routes_as_its_mentions_would_one_by_one(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    one, batched = engines
    items = feed()
    async with session_factory(one)() as session:
        await prepare(session)
        for item in items:
            await begin_immediate(session)
            await resolve_mention(session, tenant_id=TENANT, resolved=item)
            await session.commit()
        alone = await outcome(session, items)
    forget_all()
    async with session_factory(batched)() as session:
        await prepare(session)
        await begin_immediate(session)
        routed = await resolve_mentions(session, tenant_id=TENANT, resolved=items)
        await session.commit()
        together = await outcome(session, items)

    assert together == alone
    assert [m is None for m in routed] == [together["mentions"][f"{i}"] is None for i in range(len(items))]
    mentions = together["mentions"]
    assert mentions["0"][0] == mentions["3"][0] == mentions["13"][0]  # one direct thread, one conversation
    assert mentions["2"][0] != mentions["7"][0]  # two posts, two threads
    assert mentions["4"][3] == "urgent"  # a negative complaint (high) by an influential author
    assert mentions["5"] is None and mentions["8"] is None  # small talk; an erased person
    assert mentions["6"] == mentions["9"]  # the same mention twice: one message
    # Back within the reopen window: reopened, and its agent (with room) keeps it.
    assert mentions["1"][5] == 1 and mentions["1"][1] is not None
    assert mentions["10"][4] == "open"  # the customer answered: the team's move again
    assert all(load <= CAPACITY for agent, load in together["loads"].items() if agent is not None)
    assert sum(load for agent, load in together["loads"].items() if agent is not None) == CAPACITY * len(
        AGENTS
    )


async def test_a_batch_delivered_again_changes_nothing(engines: tuple[AsyncEngine, AsyncEngine]) -> None:
    _, engine = engines
    items = feed()
    async with session_factory(engine)() as session:
        await prepare(session)
        await begin_immediate(session)
        await resolve_mentions(session, tenant_id=TENANT, resolved=items)
        await session.commit()
        first = await outcome(session, items)
        await begin_immediate(session)
        again = await resolve_mentions(session, tenant_id=TENANT, resolved=items)
        await session.commit()
        assert await outcome(session, items) == first
        assert [m.id if m else None for m in again] == [
            m.id if m else None for m in await resolve_mentions(session, tenant_id=TENANT, resolved=items)
        ]
        await session.rollback()
        kept = (await session.execute(select(func.count()).select_from(SeenMention))).scalar_one()
        assert kept == len({item.mention.mention_id for item in items if item.profile_id != "p-gone"}) + 2


async def test_an_erased_persons_resolutions_keep_nothing(engines: tuple[AsyncEngine, AsyncEngine]) -> None:
    _, engine = engines
    gone = [resolved_as(dm(), "p-gone"), resolved_as(mention(kinds=("brand",)), "p-gone")]
    kept = resolved_as(mention(kinds=("brand",)), f"p-{uuid.uuid4().hex[:6]}")
    async with session_factory(engine)() as session:
        session.add(ErasedProfile(tenant_id=TENANT, profile_id="p-gone"))
        await session.commit()
        await begin_immediate(session)
        routed = await resolve_mentions(session, tenant_id=TENANT, resolved=[gone[0], kept, gone[1]])
        await session.commit()
        assert routed[0] is None and routed[2] is None and routed[1] is not None
        seen = (await session.execute(select(col(SeenMention.profile_id)))).scalars().all()
        assert seen == [kept.profile_id]


async def test_a_score_after_a_post_of_the_batch_that_reopened_the_conversation_answers_nothing(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    _, engine = engines
    first = mention(channel_id="ch-1")
    async with session_factory(engine)() as session:
        message = await resolve_mention(session, tenant_id=TENANT, resolved=resolved_as(first, "p-s"))
        assert message is not None
        await session.commit()
        conversation_id = message.conversation_id
        await update_conversation(
            session,
            tenant_id=TENANT,
            conversation_id=conversation_id,
            update_in=ConversationUpdate.model_validate({"status": "resolved"}),
            by_user_id="u-1",
        )
        session.add(
            Survey(
                tenant_id=TENANT,
                conversation_id=conversation_id,
                profile_id="p-s",
                channel_id="ch-1",
                kind="csat",
                state="sent",
                question="How did we do?",
                token_digest=uuid.uuid4().hex,
                expires_at=utcnow() + timedelta(days=1),
            )
        )
        await session.commit()
        reply = mention(text_="Still broken", channel_id="ch-1").model_copy(
            update={"in_reply_to": first.external_id}
        )
        score = mention(text_="5", intent="other", label="neutral", channel_id="ch-1")
        await begin_immediate(session)
        await resolve_mentions(
            session, tenant_id=TENANT, resolved=[resolved_as(reply, "p-s"), resolved_as(score, "p-s")]
        )
        await session.commit()
        survey = (await session.execute(select(Survey))).scalars().one()
        conversation = await session.get(Conversation, conversation_id)
        assert conversation is not None and conversation.status == "open"  # the reply reopened it
        assert survey.answered_at is None  # so the number belongs to the new exchange
