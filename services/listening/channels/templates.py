"""WhatsApp message templates per channel: the only messages WhatsApp takes outside its 24-hour
customer-service window.

Meta approves a business's templates (WhatsApp Manager or its management API); the tenant stores here
the ones a channel may send (`/v1/channels/{id}/templates`): name, language code, category and body with
`{{1}}`-style parameters. A reply request naming a template (`ReplyRequested.template`) is checked against
them when it is recorded (`replies._prepare`): an unknown name and language is `unknown_template`, a
wrong number of parameters `template_parameter_mismatch`, both as `listening.reply.failed` before the
platform is called. Only WhatsApp channels keep templates (Messenger's own templates are not sent).
"""

from __future__ import annotations

import logging

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.listening.channels.schemas import (
    TEMPLATE_PLACEHOLDER,
    TemplateCreate,
    TemplatePage,
    TemplateRead,
    template_parameters,
)
from services.listening.errors import (
    ChannelNotFound,
    TemplateConflict,
    TemplateNotFound,
    TemplatesNotSupported,
)
from services.listening.models import Channel, ChannelTemplate
from shared.db import utcnow
from shared.pagination import page_of
from shared.reads import Reader
from shared.tenancy import get_scoped, scoped

log = logging.getLogger("rapport.listening.templates")

TEMPLATE_PLATFORMS = frozenset({"whatsapp"})
# A WhatsApp Business Account holds at most 250 templates unless Meta raised its limit; a channel here
# keeps at most this many.
MAX_TEMPLATES = 1000


def render(body: str, parameters: list[str]) -> str:
    """The body as the customer reads it: `{{n}}` replaced by the n-th parameter (one pass, so a value
    that looks like a placeholder stays as written)."""
    return TEMPLATE_PLACEHOLDER.sub(lambda m: parameters[int(m.group(1)) - 1], body)


async def _whatsapp_channel(session: AsyncSession, tenant_id: str, channel_id: str) -> Channel:
    channel = await get_scoped(session, Channel, tenant_id=tenant_id, id=channel_id, error=ChannelNotFound)
    if channel.platform not in TEMPLATE_PLATFORMS:
        raise TemplatesNotSupported(
            f"Message templates are kept for WhatsApp channels only; this channel is {channel.platform}."
        )
    return channel


async def create_template(
    session: AsyncSession, *, tenant_id: str, channel_id: str, template_in: TemplateCreate
) -> TemplateRead:
    """Store an approved template for a WhatsApp channel of the tenant (409 if its name and language are
    stored already)."""
    await _whatsapp_channel(session, tenant_id, channel_id)
    stmt = scoped(ChannelTemplate, tenant_id).where(col(ChannelTemplate.channel_id) == channel_id)
    rows = list((await session.execute(stmt)).scalars())
    if any(t.name == template_in.name and t.language == template_in.language for t in rows):
        raise TemplateConflict(
            f"The channel has a template {template_in.name} in {template_in.language} already: delete it "
            "first to replace it."
        )
    if len(rows) >= MAX_TEMPLATES:
        raise TemplateConflict(f"A channel keeps at most {MAX_TEMPLATES} templates.")
    template = ChannelTemplate(
        tenant_id=tenant_id,
        channel_id=channel_id,
        name=template_in.name,
        language=template_in.language,
        category=template_in.category,
        body=template_in.body,
        parameters=template_parameters(template_in.body),
        created_at=utcnow(),
    )
    session.add(template)
    await session.commit()
    log.info(
        "template.created",
        extra={"tenant_id": tenant_id, "channel_id": channel_id, "template_id": template.id},
    )
    return TemplateRead.model_validate(template, from_attributes=True)


async def list_templates(
    reader: Reader, *, tenant_id: str, channel_id: str, limit: int, cursor: str | None
) -> TemplatePage:
    """A channel's templates, newest first (404 for a channel not the tenant's)."""
    stmt = select(col(Channel.id)).where(col(Channel.tenant_id) == tenant_id, col(Channel.id) == channel_id)
    if await reader.first(stmt) is None:
        raise ChannelNotFound(f"Channel {channel_id} was not found.")
    rows, next_cursor = await page_of(
        reader, ChannelTemplate, tenant_id=tenant_id, limit=limit, cursor=cursor, channel_id=channel_id
    )
    return TemplatePage.model_validate({"items": rows, "next_cursor": next_cursor}, from_attributes=True)


async def delete_template(
    session: AsyncSession, *, tenant_id: str, channel_id: str, template_id: str
) -> None:
    stmt = scoped(ChannelTemplate, tenant_id).where(
        col(ChannelTemplate.channel_id) == channel_id, col(ChannelTemplate.id) == template_id
    )
    template = (await session.execute(stmt)).scalars().first()
    if template is None:
        raise TemplateNotFound(f"Template {template_id} was not found on channel {channel_id}.")
    await session.delete(template)
    await session.commit()
    log.info(
        "template.deleted",
        extra={"tenant_id": tenant_id, "channel_id": channel_id, "template_id": template_id},
    )


async def find_template(
    session: AsyncSession, *, tenant_id: str, channel_id: str, name: str, language: str
) -> ChannelTemplate | None:
    """The channel's template of this name and language, if stored."""
    stmt = scoped(ChannelTemplate, tenant_id).where(
        col(ChannelTemplate.channel_id) == channel_id,
        col(ChannelTemplate.name) == name,
        col(ChannelTemplate.language) == language,
    )
    return (await session.execute(stmt)).scalars().first()


async def delete_channel_templates(session: AsyncSession, *, tenant_id: str, channel_id: str) -> None:
    """A disconnected channel's templates go with it (the caller commits)."""
    await session.execute(
        delete(ChannelTemplate).where(
            col(ChannelTemplate.tenant_id) == tenant_id, col(ChannelTemplate.channel_id) == channel_id
        )
    )
