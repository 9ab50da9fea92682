"""Corrections from listening: a re-analysed mention may need a conversation; a redacted one loses text."""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import String, bindparam, exists, select, union_all
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.engagement.logic.conversations import (
    DEFAULT_REOPEN_WINDOW,
    messages_of_mentions,
    receive_mentions,
)
from services.engagement.models import Conversation, ErasedProfile, Message, SeenMention, new_id
from shared.db import lock_tenant, utcnow
from shared.events.contracts import (
    Analysis,
    MentionPayload,
    MentionReanalysed,
    MentionRedacted,
    MentionResolved,
)
from shared.tenancy import scoped

log = logging.getLogger("rapport.engagement.corrections")

# Taken shared by the transactions that may keep a person's mentions, alone by their erasure (privacy.py).
ERASURE_LOCK = "engagement-erasure"

REDACTED = ""  # what a redacted post's text becomes (MessageRead.redacted says why it is empty)


async def _seen(session: AsyncSession, *, tenant_id: str, mention_id: str) -> SeenMention | None:
    stmt = scoped(SeenMention, tenant_id).where(col(SeenMention.mention_id) == mention_id)
    return (await session.execute(stmt)).scalars().first()


@functools.cache
def _remember(dialect: str, size: int) -> Any:
    """INSERT `size` projection rows (bound as `id_<i>`, `mention_<i>`, `profile_<i>`, `payload_<i>`), or
    UPDATE their profile and payload, RETURNING the corrections each holds (an analysis, a redaction that
    overtook the resolution): one statement, whose WHERE leaves out the rows of erased profiles (nothing
    of their resolutions is kept, and a row left out returns nothing). Built and compiled once per size."""
    table = SeenMention.__table__  # type: ignore[attr-defined]
    erased = ErasedProfile.__table__  # type: ignore[attr-defined]
    tenant_id = bindparam("tenant_id", type_=String)
    rows = [
        select(
            bindparam(f"id_{i}", type_=String).label("id"),
            bindparam(f"mention_{i}", type_=String).label("mention_id"),
            bindparam(f"profile_{i}", type_=String).label("profile_id"),
            bindparam(f"payload_{i}", type_=table.c.payload.type).label("payload"),
        )
        for i in range(size)
    ]
    incoming = (union_all(*rows) if size > 1 else rows[0]).subquery("incoming")
    kept = select(
        incoming.c.id,
        tenant_id,
        incoming.c.mention_id,
        incoming.c.profile_id,
        incoming.c.payload,
        bindparam("now", type_=table.c.updated_at.type),
    ).where(~exists().where(erased.c.tenant_id == tenant_id, erased.c.profile_id == incoming.c.profile_id))
    insert = (pg_insert if dialect == "postgresql" else sqlite_insert)(table).from_select(
        ["id", "tenant_id", "mention_id", "profile_id", "payload", "updated_at"], kept
    )
    return insert.on_conflict_do_update(
        index_elements=[table.c.tenant_id, table.c.mention_id],
        set_={name: insert.excluded[name] for name in ("profile_id", "payload", "updated_at")},
    ).returning(table.c.mention_id, table.c.analysis, table.c.redacted)


# The erased profiles among some (`privacy.py` records them): for a batch that resolves one mention to two
# profiles, whose resolutions are then kept or not each by its own profile.
_ERASED = select(col(ErasedProfile.profile_id)).where(
    col(ErasedProfile.tenant_id) == bindparam("tenant_id"),
    col(ErasedProfile.profile_id).in_(bindparam("profile_ids", expanding=True)),
)


async def _message(session: AsyncSession, *, tenant_id: str, mention_id: str) -> Message | None:
    stmt = scoped(Message, tenant_id).where(col(Message.mention_id) == mention_id)
    return (await session.execute(stmt)).scalars().first()


async def _receive_at(
    session: AsyncSession,
    *,
    tenant_id: str,
    items: Sequence[tuple[int, MentionResolved]],
    reopen_window: timedelta,
    causes: Sequence[str | None] | None,
) -> list[tuple[int, MentionResolved, Message | None]]:
    """`conversations.receive_mentions` for some of a batch's mentions, each with its index in the batch
    (which picks its cause): each with the message it became."""
    routed = await receive_mentions(
        session,
        tenant_id=tenant_id,
        resolved=[item for _, item in items],
        reopen_window=reopen_window,
        causes=[causes[i] for i, _ in items] if causes else None,
    )
    return [(i, item, message) for (i, item), message in zip(items, routed, strict=True)]


async def resolve_mention(
    session: AsyncSession,
    *,
    tenant_id: str,
    resolved: MentionResolved,
    reopen_window: timedelta = DEFAULT_REOPEN_WINDOW,
) -> Message | None:
    """`resolve_mentions` for one mention."""
    routed = await resolve_mentions(
        session, tenant_id=tenant_id, resolved=[resolved], reopen_window=reopen_window
    )
    return routed[0]


async def resolve_mentions(
    session: AsyncSession,
    *,
    tenant_id: str,
    resolved: Sequence[MentionResolved],
    reopen_window: timedelta = DEFAULT_REOPEN_WINDOW,
    causes: Sequence[str | None] | None = None,
) -> list[Message | None]:
    """profiles.mention.resolved, one tenant's fetched batch: remember each mention's profile, then route
    them in order (newest analysis wins); the message each became (None: not routed, or erased).
    `causes`: per mention, the id of the event that brought it (see `conversations.receive_mentions`).

    One statement for the batch in the common case: an upsert of the projection rows that leaves out
    those of erased profiles (nothing of their resolutions is kept) and returns any correction (an
    analysis, a redaction) that overtook a resolution; only then is that row's payload rewritten.
    Routing reads what the batch needs once (`conversations.receive_mentions`).
    """
    out: list[Message | None] = [None] * len(resolved)
    if not resolved:
        return out
    dialect = session.get_bind().dialect.name
    # Held until the batch commits: an erasure (which takes it alone) waits for the batch, or the batch
    # for the erasure, whose erased profiles it then finds (PostgreSQL; SQLite has one writer at a time).
    await lock_tenant(session, ERASURE_LOCK, tenant_id, shared=True)
    profiles: dict[str, str] = {}
    erased: set[str] = set()
    if any(profiles.setdefault(r.mention.mention_id, r.profile_id) != r.profile_id for r in resolved):
        params = {"tenant_id": tenant_id, "profile_ids": sorted({r.profile_id for r in resolved})}
        erased = set(await session.scalars(_ERASED, params))
    now = utcnow()
    rows: dict[str, tuple[str, str, str]] = {}  # by mention id: a mention twice in the batch, its last wins
    for item in resolved:
        if item.profile_id not in erased:
            rows[item.mention.mention_id] = (new_id(), item.profile_id, item.mention.model_dump_json())
    remembered: dict[str, tuple[str | None, bool]] = {}
    if rows:
        values: dict[str, Any] = {"tenant_id": tenant_id, "now": now}
        for i, (mention_id, (row_id, profile_id, payload)) in enumerate(rows.items()):
            values[f"id_{i}"], values[f"mention_{i}"] = row_id, mention_id
            values[f"profile_{i}"], values[f"payload_{i}"] = profile_id, payload
        returned = await session.execute(_remember(dialect, len(rows)), values)
        remembered = {mention_id: (analysis, redacted) for mention_id, analysis, redacted in returned}
    kept: list[tuple[int, MentionResolved]] = []
    for i, item in enumerate(resolved):
        mention = item.mention
        if item.profile_id in erased or mention.mention_id not in remembered:
            # A resolution still in transit when the person was erased: nothing of it is kept.
            log.info(
                "mention.person_erased", extra={"mention_id": mention.mention_id, "tenant_id": tenant_id}
            )
            continue
        analysis, redacted = remembered[mention.mention_id]
        if redacted or analysis is not None:
            if redacted:
                mention = mention.model_copy(update={"text": REDACTED})
            if analysis is not None:  # a correction overtook the resolution
                mention = mention.model_copy(update={"analysis": Analysis.model_validate_json(analysis)})
            seen = await _seen(session, tenant_id=tenant_id, mention_id=mention.mention_id)
            if seen is not None:
                seen.payload = mention.model_dump_json()
                session.add(seen)
            item = item.model_copy(update={"mention": mention})
        kept.append((i, item))
    for i, _, message in await _receive_at(
        session, tenant_id=tenant_id, items=kept, reopen_window=reopen_window, causes=causes
    ):
        out[i] = message
    log.info(
        "mentions.routed",
        extra={
            "tenant_id": tenant_id,
            "mentions": len(resolved),
            "messages": sum(1 for message in out if message is not None),
        },
    )
    return out


async def reanalyse_mention(
    session: AsyncSession,
    *,
    tenant_id: str,
    reanalysed: MentionReanalysed,
    reopen_window: timedelta = DEFAULT_REOPEN_WINDOW,
) -> Message | None:
    """`reanalyse_mentions` for one correction."""
    routed = await reanalyse_mentions(
        session, tenant_id=tenant_id, reanalysed=[reanalysed], reopen_window=reopen_window
    )
    return routed[0]


_SEEN_OF = select(SeenMention).where(
    col(SeenMention.tenant_id) == bindparam("tenant_id"),
    col(SeenMention.mention_id).in_(bindparam("mention_ids", expanding=True)),
)


async def reanalyse_mentions(
    session: AsyncSession,
    *,
    tenant_id: str,
    reanalysed: Sequence[MentionReanalysed],
    reopen_window: timedelta = DEFAULT_REOPEN_WINDOW,
    causes: Sequence[str | None] | None = None,
) -> list[Message | None]:
    """listening.mention.reanalysed, one tenant's fetched batch in order: keep message labels current;
    route a mention that became actionable. The message each is (None: none). `causes`: per correction,
    the id of the event that brought it (see `conversations.receive_mentions`).

    The batch's projection rows and messages are read with one statement each; the mentions to route go
    through `conversations.receive_mentions` together (should a mention come again after it was put up
    for routing, the ones put up so far are routed first, so it finds its message as it would alone)."""
    out: list[Message | None] = [None] * len(reanalysed)
    if not reanalysed:
        return out
    await lock_tenant(session, ERASURE_LOCK, tenant_id, shared=True)  # as `resolve_mentions`
    ids = {r.mention_id for r in reanalysed}
    params = {"tenant_id": tenant_id, "mention_ids": sorted(ids)}
    seen_by_id = {seen.mention_id: seen for seen in (await session.execute(_SEEN_OF, params)).scalars()}
    messages = await messages_of_mentions(session, tenant_id=tenant_id, mention_ids=ids)
    pending: dict[str, tuple[int, MentionResolved]] = {}

    async def route_pending() -> None:
        todo = list(pending.values())
        pending.clear()
        for i, item, message in await _receive_at(
            session, tenant_id=tenant_id, items=todo, reopen_window=reopen_window, causes=causes
        ):
            out[i] = message
            if message is not None:
                messages[item.mention.mention_id] = message
                log.info(
                    "mention.rerouted",
                    extra={"mention_id": item.mention.mention_id, "message_id": message.id},
                )

    for i, correction in enumerate(reanalysed):
        if correction.mention_id in pending:
            await route_pending()
        seen = seen_by_id.get(correction.mention_id)
        if seen is None:
            seen = seen_by_id[correction.mention_id] = SeenMention(
                tenant_id=tenant_id, mention_id=correction.mention_id
            )
        seen.analysis = correction.analysis.model_dump_json()
        seen.updated_at = utcnow()
        session.add(seen)
        known = messages.get(correction.mention_id)
        if known is not None:
            # Already in a conversation: it stays there; its labels follow the correction.
            known.intent = correction.analysis.intent
            known.sentiment_label = correction.analysis.sentiment.label
            session.add(known)
            out[i] = known
            continue
        if seen.profile_id is None or seen.payload is None:
            continue  # not resolved yet: the resolution will route it with this analysis
        mention = MentionPayload.model_validate_json(seen.payload).model_copy(
            update={"analysis": correction.analysis}
        )
        seen.payload = mention.model_dump_json()
        pending[correction.mention_id] = (i, MentionResolved(profile_id=seen.profile_id, mention=mention))
    if pending:
        await route_pending()
    return out


async def _redact_excerpt(session: AsyncSession, *, tenant_id: str, message: Message) -> None:
    """The inbox row shows the latest message's excerpt: it goes too when that message is redacted."""
    conversation = await session.get(Conversation, message.conversation_id)
    if conversation is None or conversation.tenant_id != tenant_id:
        return
    if conversation.last_message_at is not None and message.posted_at >= conversation.last_message_at:
        conversation.last_message_excerpt = REDACTED
        session.add(conversation)


async def redact_mention(session: AsyncSession, *, tenant_id: str, redacted: MentionRedacted) -> None:
    """listening.mention.redacted: the post's text is removed from its message and the projection."""
    message = await _message(session, tenant_id=tenant_id, mention_id=redacted.mention_id)
    if message is not None:
        message.text = REDACTED
        message.redacted = True
        session.add(message)
        await _redact_excerpt(session, tenant_id=tenant_id, message=message)
    seen = await _seen(session, tenant_id=tenant_id, mention_id=redacted.mention_id)
    if seen is None:
        seen = SeenMention(tenant_id=tenant_id, mention_id=redacted.mention_id)
    seen.redacted = True
    if seen.payload is not None:
        seen.payload = (
            MentionPayload.model_validate_json(seen.payload)
            .model_copy(update={"text": REDACTED})
            .model_dump_json()
        )
    seen.updated_at = utcnow()
    session.add(seen)
    log.info("message.redacted", extra={"mention_id": redacted.mention_id, "found": message is not None})
