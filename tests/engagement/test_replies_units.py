"""Replies' rules without the stack: the delivery outcomes applied once, an echo that overtakes its
reply's outcome, the first response, automatic messages, and canned responses' substitution."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.engagement.errors import InvalidCannedResponse, MessagingWindowClosed, ReplyNotPossible
from services.engagement.logic.canned import check_template, fill, pick_variant
from services.engagement.logic.conversations import receive_mention
from services.engagement.logic.replies import receive_brand_post, record_failed, record_sent, send_reply
from services.engagement.models import Conversation, Message
from shared.db import create_engine, session_factory
from shared.events.contracts import (
    BrandPostReceived,
    MentionReceived,
    MentionResolved,
    ReplyFailed,
    ReplyRequested,
    ReplySent,
    ReplyTemplate,
)
from shared.events.outbox import OutboxMessage
from tests.helpers import create_tables

T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)
TENANT = "t1"


@pytest.fixture
async def session(tmp_path: Path) -> AsyncIterator[AsyncSession]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'engagement.db'}")
    await create_tables(engine)
    async with session_factory(engine)() as session:
        yield session
    await engine.dispose()


async def opened(
    session: AsyncSession, *, channel_id: str | None = "c1", platform: str = "facebook", kind: str = "comment"
) -> tuple[Conversation, Message]:
    payload = MentionReceived.model_validate(
        {
            "mention_id": str(uuid.uuid4()),
            "platform": platform,
            "external_id": f"post-{uuid.uuid4().hex}",
            "text": "My order arrived broken.",
            "created_at": T0,
            "author": {"handle": "sam"},
            "analysis": {
                "language": "en",
                "sentiment": {"label": "negative", "score": -0.8},
                "intent": "complaint",
            },
            "channel_id": channel_id,
            "kind": kind,
        }
    )
    resolved = MentionResolved.model_validate_json(
        MentionResolved(profile_id="p1", mention=payload).model_dump_json()
    )
    message = await receive_mention(session, tenant_id=TENANT, resolved=resolved, now=T0)
    assert message is not None
    await session.commit()
    conversation = await session.get(Conversation, message.conversation_id)
    assert conversation is not None
    return conversation, message


async def staged(session: AsyncSession, event_type: str) -> list[str]:
    rows = await session.execute(select(col(OutboxMessage.body)).where(col(OutboxMessage.type) == event_type))
    return list(rows.scalars().all())


def sent(message: Message, platform_id: str, at: datetime) -> ReplySent:
    return ReplySent(
        message_id=message.id,
        conversation_id=message.conversation_id,
        channel_id="c1",
        platform="meta",
        platform_message_id=platform_id,
        attempts=1,
        sent_at=at,
    )


@pytest.mark.anyio
async def test_a_reply_answers_the_latest_post_publicly_or_privately(session: AsyncSession) -> None:
    conversation, inbound = await opened(session)
    reply = await send_reply(session, conversation=conversation, text=" Sorry! ", author_id="u1", now=T0)
    await session.commit()
    assert (reply.status, reply.text, reply.mention_id, reply.origin) == ("queued", "Sorry!", None, "agent")
    [request] = await staged(session, "engagement.reply.requested")
    assert '"kind":"public"' in request and inbound.mention_id is not None and inbound.mention_id in request
    assert conversation.first_response_at is None  # queued is not a response yet

    private, _ = await opened(session, platform="instagram", kind="message")
    await send_reply(session, conversation=private, text="Hi", author_id="u1", now=T0)
    await session.commit()
    assert any('"kind":"direct"' in body for body in await staged(session, "engagement.reply.requested"))


@pytest.mark.anyio
async def test_no_channel_no_reply(session: AsyncSession) -> None:
    conversation, _ = await opened(session, channel_id=None)
    with pytest.raises(ReplyNotPossible):
        await send_reply(session, conversation=conversation, text="Hello", author_id="u1", now=T0)


@pytest.mark.anyio
async def test_outcomes_apply_once_and_a_failure_never_undoes_a_success(session: AsyncSession) -> None:
    conversation, _ = await opened(session)
    reply = await send_reply(session, conversation=conversation, text="Sorry!", author_id="u1", now=T0)
    await session.commit()
    at = T0 + timedelta(seconds=3)
    for _ in range(2):
        await record_sent(session, tenant_id=TENANT, sent=sent(reply, "c_777", at))
        await session.commit()
    failed = ReplyFailed(
        message_id=reply.id,
        conversation_id=conversation.id,
        channel_id="c1",
        code="platform_unavailable",
        error="late",
        retryable=True,
        attempts=5,
        failed_at=at,
    )
    await record_failed(session, tenant_id=TENANT, failed=failed)
    await session.commit()
    await session.refresh(reply)
    await session.refresh(conversation)
    assert (reply.status, reply.platform_message_id, reply.external_id) == ("sent", "c_777", "c_777")
    assert conversation.first_response_at == at
    assert len(await staged(session, "engagement.message.updated")) == 1
    assert len(await staged(session, "engagement.conversation.first_responded")) == 1
    # Another tenant's outcome for the message changes nothing.
    assert await record_sent(session, tenant_id="t2", sent=sent(reply, "other", at)) is None


@pytest.mark.anyio
async def test_an_echo_overtaking_its_reply_outcome_is_folded_into_it(session: AsyncSession) -> None:
    conversation, inbound = await opened(session)
    reply = await send_reply(session, conversation=conversation, text="Sorry!", author_id="u1", now=T0)
    await session.commit()
    echo = BrandPostReceived(
        platform="facebook",
        external_id="c_888",
        text="Sorry!",
        created_at=T0 + timedelta(seconds=1),
        in_reply_to=inbound.external_id,
    )
    assert await receive_brand_post(session, tenant_id=TENANT, post=echo) is not None
    await session.commit()
    await record_sent(session, tenant_id=TENANT, sent=sent(reply, "c_888", T0 + timedelta(seconds=2)))
    await session.commit()
    rows = (await session.execute(select(Message).where(Message.direction == "outbound"))).scalars().all()  # type: ignore[arg-type]
    assert [(m.id, m.status, m.external_id) for m in rows] == [(reply.id, "sent", "c_888")]
    # Delivered again later, the echo adds nothing.
    assert await receive_brand_post(session, tenant_id=TENANT, post=echo) is None
    # A brand post answering nothing known is ignored.
    stray = echo.model_copy(update={"external_id": "c_999", "in_reply_to": "unknown"})
    assert await receive_brand_post(session, tenant_id=TENANT, post=stray) is None


@pytest.mark.anyio
async def test_automatic_messages_are_no_first_response(session: AsyncSession) -> None:
    conversation, _ = await opened(session)
    ack = await send_reply(
        session, conversation=conversation, text="We got it", author_id=None, now=T0, origin="auto_ack"
    )
    await session.commit()
    await record_sent(session, tenant_id=TENANT, sent=sent(ack, "c_1", T0))
    await session.commit()
    await session.refresh(conversation)
    assert conversation.first_response_at is None


@pytest.mark.anyio
async def test_windows_refuse_before_anything_is_recorded_and_mark_a_persons_reply(
    session: AsyncSession,
) -> None:
    whatsapp, _ = await opened(session, platform="whatsapp", kind="message")
    later = T0 + timedelta(hours=25)
    with pytest.raises(MessagingWindowClosed) as refused:
        await send_reply(session, conversation=whatsapp, text="Hi", author_id="u1", now=later)
    assert refused.value.extra["allowed"] == ["platform_template"]
    # An automatic message is skipped the same way (a ReplyNotPossible, as rules and surveys expect).
    with pytest.raises(ReplyNotPossible):
        await send_reply(
            session, conversation=whatsapp, text="Hi", author_id=None, now=later, origin="survey"
        )
    await session.commit()
    assert await staged(session, "engagement.reply.requested") == []
    assert (await session.execute(select(Message).where(Message.direction == "outbound"))).first() is None  # type: ignore[arg-type]
    template = ReplyTemplate(name="order_update", language="en", parameters=["A-1"])
    await send_reply(session, conversation=whatsapp, text="[t]", author_id="u1", now=later, template=template)

    messenger, _ = await opened(session, platform="messenger", kind="message")
    await send_reply(session, conversation=messenger, text="Hi", author_id="u1", now=T0 + timedelta(days=3))
    await session.commit()
    bodies = await staged(session, "engagement.reply.requested")
    requests = [ReplyRequested.model_validate(json.loads(body)["data"]) for body in bodies]
    assert [(r.template is not None, r.human_agent) for r in requests] == [(True, True), (False, True)]


def test_canned_substitution_is_plain_and_strict() -> None:
    assert fill("Hi {{ name }}, {{name}}!", {"name": "{{name}}"}) == "Hi {{name}}, {{name}}!"
    with pytest.raises(InvalidCannedResponse):
        fill("Hi {{name}}", {})
    with pytest.raises(InvalidCannedResponse):
        fill("Hi", {"name": "x"})
    for bad in ("{{ }}", "{{Name}}", "{{a-b}}", "{name}}", "{{x}", "{{x}} }}"):
        with pytest.raises(InvalidCannedResponse):
            check_template(bad, language="en")
    check_template("Price: {5} {{order_2}}", language="en")
    variants = {"en": "en", "pt": "pt", "pt-br": "br"}
    assert pick_variant(variants, default_language="en", language="pt-BR") == "br"
    assert pick_variant(variants, default_language="en", language="pt-pt") == "pt"
    assert pick_variant(variants, default_language="en", language="de") == "en"
    assert pick_variant(variants, default_language="en", language=None) == "en"
