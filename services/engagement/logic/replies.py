"""Replies: the brand's outbound messages on a conversation and their delivery.

engagement records an outbound message (`queued`) and stages `engagement.reply.requested`; listening,
which holds the channels and their credentials, sends it and answers with `listening.reply.sent` or
`listening.reply.failed`, which set the message's delivery (`sent` with the platform's id, `failed` with
listening's code and sentence). The answer goes to the thread of the conversation's latest inbound
message: a private message to its author when that was a private message (its `kind`, as listening saw
it; any post on Messenger and WhatsApp), a public reply in the thread otherwise.

Platform windows (`shared/windows.py`) are checked here, before anything is recorded: a private message
on WhatsApp more than 24 hours after the customer's last message (the conversation's latest inbound
message) can only be an approved template (`template`), and on Messenger / Instagram a person's reply goes
with the `HUMAN_AGENT` tag until 7 days, an automatic one not past 24 hours; anything else is refused with
`MessagingWindowClosed` (422) naming the window and what may be sent instead. listening checks again when
it records the request (its own defence) and refuses a template its channel does not store
(`listening.reply.failed`, `unknown_template`): engagement does not keep a copy of listening's templates.

The first response: `conversation.first_response_at` is set when the brand's first answer reaches the
platform (the reply is `sent`, at the platform's acceptance time), not when it is queued: a reply the
platform refuses (outside the 24-hour window, say) did not answer the customer, so the SLA's first-response
clock keeps running. The brand's own post in the thread (made in the platform's own app) counts at its
posting time. Automatic messages (origin `auto_ack`, `survey`) are not a response by a person and never count.

Every new message stages `engagement.message.created`, every delivery change `engagement.message.updated`,
and the first response `engagement.conversation.first_responded`.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.engagement.errors import MessagingWindowClosed, ReplyNotPossible
from services.engagement.logic import sla
from services.engagement.logic.canned import render_canned
from services.engagement.models import Conversation, Message
from shared.db import utcnow
from shared.events.contracts import (
    BrandPostReceived,
    ConversationFirstResponded,
    MessageCreated,
    MessageUpdated,
    ReplyFailed,
    ReplyRequested,
    ReplySent,
    ReplyTemplate,
)
from shared.events.envelope import new_event
from shared.events.outbox import stage
from shared.tenancy import scoped
from shared.windows import decide

__all__ = [
    "describe_template",
    "message_in_conversation",
    "receive_brand_post",
    "record_failed",
    "record_sent",
    "render_canned",
    "send_reply",
]

log = logging.getLogger("rapport.engagement.replies")

SOURCE = "engagement"
EXCERPT_CHARS = 200
MAX_TEXT = 10_000
# Platforms whose posts are private messages: the answer is a private message to the author.
DIRECT_PLATFORMS = frozenset({"messenger", "whatsapp"})
# Outbound messages of these origins are the brand's answer (automatic ones are not).
RESPONDING_ORIGINS = frozenset({"agent", "platform"})


def message_event(
    message: Message, *, verb: Literal["created", "updated"]
) -> MessageCreated | MessageUpdated:
    """The `engagement.message.*` payload of a message."""
    model = MessageCreated if verb == "created" else MessageUpdated
    return model.model_validate(
        {
            "message_id": message.id,
            "conversation_id": message.conversation_id,
            "direction": message.direction,
            "platform": message.platform,
            "origin": message.origin,
            "status": message.status,
            "author_id": message.author_id,
            "platform_message_id": message.platform_message_id,
            "error_code": message.error_code,
            "error": message.error,
            "posted_at": message.posted_at,
        }
    )


def stage_message(session: AsyncSession, message: Message, *, verb: Literal["created", "updated"]) -> None:
    """Stage `engagement.message.created` / `.updated` for a message (the caller commits)."""
    stage(
        session,
        new_event(
            message_event(message, verb=verb),
            source=SOURCE,
            tenant_id=message.tenant_id,
            subject=message.conversation_id,
        ),
    )


async def latest_inbound(session: AsyncSession, *, conversation: Conversation) -> Message | None:
    """The conversation's latest message from the customer (the one a reply answers)."""
    stmt = (
        scoped(Message, conversation.tenant_id)
        .where(col(Message.conversation_id) == conversation.id, col(Message.direction) == "inbound")
        .order_by(col(Message.posted_at).desc(), col(Message.created_at).desc())
        .limit(1)
    )
    return (await session.execute(stmt)).scalars().first()


def describe_template(name: str, language: str, parameters: list[str]) -> str:
    """A template message's text until listening reports the body it sent."""
    shown = f"[WhatsApp template {name} ({language})]"
    return f"{shown} {', '.join(parameters)}" if parameters else shown


def check_window(
    conversation: Conversation, answered: Message, *, direct: bool, now: datetime, origin: str, template: bool
) -> None:
    """MessagingWindowClosed (422) or ReplyNotPossible (422, templates off WhatsApp) unless the platform's
    window lets this reply go now, counted from the customer's latest message on the conversation."""
    decision = decide(
        answered.platform,
        private=direct,
        last_inbound_at=answered.posted_at,
        now=now,
        human=origin in RESPONDING_ORIGINS,
        template=template,
    )
    if decision.allowed:
        return
    if decision.code == "templates_not_supported":
        raise ReplyNotPossible(decision.reason, code=decision.code)
    raise MessagingWindowClosed(
        decision.reason,
        code=decision.code,
        platform=answered.platform,
        last_customer_message_at=answered.posted_at.isoformat(),
        window_closed_at=decision.closed_at.isoformat() if decision.closed_at else None,
        allowed=list(decision.alternatives),
    )


async def send_reply(
    session: AsyncSession,
    *,
    conversation: Conversation,
    text: str,
    author_id: str | None,
    now: datetime,
    origin: str = "agent",
    template: ReplyTemplate | None = None,
) -> Message:
    """Record an outbound message (`queued`) answering the conversation's latest inbound message and stage
    `engagement.reply.requested` for listening to send it (no commit). With `template` (an approved
    WhatsApp template), `text` only describes it until listening reports the body it sent.

    Raises ReplyNotPossible (422) when the conversation came through no channel (ingest API posts, posts
    found by listening queries) or has no inbound message from a channel to answer, and
    MessagingWindowClosed (422) when the platform's window does not let it go now (nothing is recorded).
    `first_response_at` is set once the reply is sent (`record_sent`), not here.
    """
    text = text.strip()
    if not text:
        raise ReplyNotPossible("A reply needs some text.")
    if len(text) > MAX_TEXT:
        raise ReplyNotPossible(f"A reply has at most {MAX_TEXT} characters.")
    if conversation.channel_id is None:
        raise ReplyNotPossible(
            "The conversation did not come through one of the tenant's channels (it was pushed through the "
            "ingest API or found by a listening query), so there is no channel to reply through.",
            code="no_channel",
        )
    answered = await latest_inbound(session, conversation=conversation)
    if answered is None or answered.mention_id is None:
        raise ReplyNotPossible(
            "The conversation has no customer message to reply to.", code="nothing_to_answer"
        )
    direct = answered.kind == "message" or answered.platform in DIRECT_PLATFORMS
    check_window(conversation, answered, direct=direct, now=now, origin=origin, template=template is not None)
    message = Message(
        tenant_id=conversation.tenant_id,
        conversation_id=conversation.id,
        mention_id=None,
        direction="outbound",
        platform=answered.platform,
        kind="message" if direct else None,
        text=text,
        author_id=author_id,
        origin=origin,
        status="queued",
        posted_at=now,
        created_at=now,
    )
    session.add(message)
    conversation.last_message_excerpt = text[:EXCERPT_CHARS]
    conversation.last_message_at = now
    conversation.updated_at = now
    session.add(conversation)
    await session.flush()
    stage(
        session,
        new_event(
            ReplyRequested(
                message_id=message.id,
                conversation_id=conversation.id,
                channel_id=conversation.channel_id,
                text=text,
                kind="direct" if direct else "public",
                # listening's id of the mention answered: listening takes the post's platform id (public)
                # or its author (direct) from it, and checks the platform's 24-hour window.
                mention_id=answered.mention_id,
                requested_at=now,
                template=template,
                # A person's reply: Messenger / Instagram take it with the HUMAN_AGENT tag past 24 hours.
                human_agent=origin in RESPONDING_ORIGINS,
            ),
            source=SOURCE,
            tenant_id=conversation.tenant_id,
            subject=message.id,
        ),
    )
    stage_message(session, message, verb="created")
    log.info(
        "reply.requested",
        extra={
            "tenant_id": conversation.tenant_id,
            "conversation_id": conversation.id,
            "message_id": message.id,
            "origin": origin,
        },
    )
    return message


def first_response(
    session: AsyncSession, *, conversation: Conversation, message: Message, responded_at: datetime
) -> bool:
    """Set the conversation's first response if this message is it (stages the event); whether it was."""
    if conversation.first_response_at is not None or message.origin not in RESPONDING_ORIGINS:
        return False
    conversation.first_response_at = responded_at
    session.add(conversation)
    stage(
        session,
        new_event(
            ConversationFirstResponded(
                conversation_id=conversation.id,
                message_id=message.id,
                origin=message.origin or "agent",
                opened_at=conversation.opened_at,
                responded_at=responded_at,
                business_seconds=sla.business_seconds(conversation, responded_at),
            ),
            source=SOURCE,
            tenant_id=conversation.tenant_id,
            subject=conversation.id,
        ),
    )
    return True


async def _outbound(session: AsyncSession, *, tenant_id: str, message_id: str) -> Message | None:
    stmt = scoped(Message, tenant_id).where(
        col(Message.id) == message_id, col(Message.direction) == "outbound"
    )
    return (await session.execute(stmt)).scalars().first()


async def record_sent(session: AsyncSession, *, tenant_id: str, sent: ReplySent) -> Message | None:
    """listening.reply.sent → the message is `sent` with the platform's id; the first response if it is
    one. A repeat changes nothing. An echo of it the platform delivered first (recorded as the brand's
    own post) is folded into it: the thread shows the reply once."""
    message = await _outbound(session, tenant_id=tenant_id, message_id=sent.message_id)
    if message is None:
        log.info("reply.sent_unknown", extra={"tenant_id": tenant_id, "message_id": sent.message_id})
        return None
    if message.status == "sent":
        return message
    echo = (
        (
            await session.execute(
                scoped(Message, tenant_id).where(
                    col(Message.external_id) == sent.platform_message_id,
                    col(Message.id) != message.id,
                    col(Message.origin) == "platform",
                )
            )
        )
        .scalars()
        .first()
    )
    if echo is not None:
        await session.delete(echo)
    message.status = "sent"
    if sent.text:  # the body listening composed (a template filled in): what the customer read
        message.text = sent.text
    message.platform_message_id = sent.platform_message_id
    message.external_id = sent.platform_message_id
    message.sent_at = sent.sent_at
    message.error_code = message.error = None
    message.error_retryable = None
    session.add(message)
    conversation = await session.get(Conversation, message.conversation_id)
    if conversation is not None and conversation.tenant_id == tenant_id:
        # (an echo that came first already counted as the first response, at its posting time)
        first_response(session, conversation=conversation, message=message, responded_at=sent.sent_at)
    await session.flush()
    stage_message(session, message, verb="updated")
    log.info("reply.sent", extra={"tenant_id": tenant_id, "message_id": message.id})
    return message


async def record_failed(session: AsyncSession, *, tenant_id: str, failed: ReplyFailed) -> Message | None:
    """listening.reply.failed → the message is `failed` with the code and sentence. A sent message stays
    sent (a late or repeated failure never undoes a success); a repeat changes nothing."""
    message = await _outbound(session, tenant_id=tenant_id, message_id=failed.message_id)
    if message is None:
        log.info("reply.failed_unknown", extra={"tenant_id": tenant_id, "message_id": failed.message_id})
        return None
    if message.status == "sent" or (message.status == "failed" and message.error_code == failed.code):
        return message
    message.status = "failed"
    message.error_code = failed.code
    message.error = failed.error[:400]
    message.error_retryable = failed.retryable
    session.add(message)
    await session.flush()
    stage_message(session, message, verb="updated")
    log.info("reply.failed", extra={"tenant_id": tenant_id, "message_id": message.id, "code": failed.code})
    return message


async def message_in_conversation(
    session: AsyncSession, *, tenant_id: str, external_id: str
) -> tuple[Message, Conversation] | None:
    """The tenant's message with this platform id (the first stored, if a platform reused one) and its
    conversation, in one indexed look-up: the post a brand's post or a customer's reply answers."""
    stmt = (
        select(Message, Conversation)
        .join(Conversation, col(Conversation.id) == col(Message.conversation_id))
        .where(
            col(Message.tenant_id) == tenant_id,
            col(Message.external_id) == external_id,
            col(Conversation.tenant_id) == tenant_id,
        )
        .order_by(col(Message.created_at).asc())
        .limit(1)
    )
    row = (await session.execute(stmt)).first()
    return None if row is None else (row[0], row[1])


async def receive_brand_post(
    session: AsyncSession, *, tenant_id: str, post: BrandPostReceived
) -> Message | None:
    """listening.brand_post.received → the brand's own post in a conversation's thread.

    The echo of a reply sent from here (its platform id is a message's already) adds nothing; a post
    answering a message of a conversation (`in_reply_to` is that message's platform id) joins it as an
    outbound message of origin `platform` (sent), the conversation's first response if none came before;
    any other post of the brand is not about a conversation and is ignored. A repeat adds nothing."""
    known = (
        (
            await session.execute(
                scoped(Message, tenant_id).where(col(Message.external_id) == post.external_id)
            )
        )
        .scalars()
        .first()
    )
    if known is not None:
        return None  # our own reply echoed back, or a repeat
    if post.in_reply_to is None:
        return None
    found = await message_in_conversation(session, tenant_id=tenant_id, external_id=post.in_reply_to)
    if found is None:
        return None
    _, conversation = found
    now = utcnow()
    message = Message(
        tenant_id=tenant_id,
        conversation_id=conversation.id,
        direction="outbound",
        platform=post.platform,
        kind=post.kind,
        text=post.text,
        external_id=post.external_id[:256],
        platform_message_id=post.external_id[:256],
        origin="platform",
        status="sent",
        posted_at=post.created_at,
        sent_at=post.created_at,
        created_at=now,
    )
    session.add(message)
    if conversation.last_message_at is None or post.created_at >= conversation.last_message_at:
        conversation.last_message_excerpt = post.text[:EXCERPT_CHARS]
        conversation.last_message_at = post.created_at
    conversation.updated_at = now
    session.add(conversation)
    await session.flush()
    first_response(session, conversation=conversation, message=message, responded_at=post.created_at)
    stage_message(session, message, verb="created")
    log.info(
        "brand_post.added",
        extra={"tenant_id": tenant_id, "conversation_id": conversation.id, "message_id": message.id},
    )
    return message
