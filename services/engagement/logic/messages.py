"""Posting on a conversation: an agent's reply (text or a canned response) or an internal note."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from services.engagement.errors import ConversationNotFound
from services.engagement.logic.canned import AUTOMATIC_VARIABLES, canned_text, render_canned
from services.engagement.logic.conversations import add_note
from services.engagement.logic.replies import describe_template, send_reply
from services.engagement.models import Agent, Conversation
from services.engagement.replies_schemas import MessageCreate, MessagePosted, variables_of
from services.engagement.schemas import MessageRead, NoteCreate
from shared.db import utcnow
from shared.events.contracts import ReplyTemplate
from shared.tenancy import get_scoped


async def _automatic(
    session: AsyncSession, *, conversation: Conversation, author_id: str, wanted: set[str]
) -> dict[str, str]:
    """Values of the automatic variables a text uses (those that can be known)."""
    values: dict[str, str] = {}
    name = conversation.customer_display_name
    if "first_name" in wanted and name and name.split():
        values["first_name"] = name.split()[0]
    if "customer_name" in wanted and name:
        values["customer_name"] = name
    if "customer_handle" in wanted and conversation.customer_handle:
        values["customer_handle"] = conversation.customer_handle
    if "agent_name" in wanted:
        agent = await session.get(Agent, author_id)
        if agent is not None and agent.tenant_id == conversation.tenant_id and agent.display_name:
            values["agent_name"] = agent.display_name
    return values


async def post_message(
    session: AsyncSession,
    *,
    tenant_id: str,
    conversation_id: str,
    message_in: MessageCreate,
    author_id: str,
    before_reply: Callable[[str], Awaitable[None]] | None = None,
) -> MessagePosted:
    """Reply on one conversation of the tenant (queued for sending), or note on it when `internal`.

    `before_reply` is given the customer's profile id before anything changes (the consent check): it
    raises to refuse the reply."""
    conversation = await get_scoped(
        session, Conversation, tenant_id=tenant_id, id=conversation_id, error=ConversationNotFound
    )
    if before_reply is not None and not message_in.internal:
        await before_reply(conversation.profile_id)
    platform_template: ReplyTemplate | None = None
    if message_in.platform_template is not None:
        given = message_in.platform_template
        platform_template = ReplyTemplate(
            name=given.name, language=given.language, parameters=given.parameters
        )
        text = describe_template(given.name, given.language, given.parameters)
    elif message_in.template_id is not None:
        template = await canned_text(
            session, tenant_id=tenant_id, canned_id=message_in.template_id, language=conversation.language
        )
        wanted = (variables_of(template) & AUTOMATIC_VARIABLES) - message_in.variables.keys()
        automatic = await _automatic(session, conversation=conversation, author_id=author_id, wanted=wanted)
        text = await render_canned(
            session,
            tenant_id=tenant_id,
            canned_id=message_in.template_id,
            language=conversation.language,
            variables={**automatic, **message_in.variables},
        )
    else:
        assert message_in.text is not None
        text = message_in.text
    if message_in.internal:
        note = await add_note(
            session,
            tenant_id=tenant_id,
            conversation_id=conversation.id,
            note_in=NoteCreate(body=text),
            author_id=author_id,
        )
        return MessagePosted(internal=True, note=note)
    message = await send_reply(
        session,
        conversation=conversation,
        text=text,
        author_id=author_id,
        now=utcnow(),
        origin="agent",
        template=platform_template,
    )
    await session.commit()
    return MessagePosted(internal=False, message=MessageRead.model_validate(message, from_attributes=True))
