"""listening's answer to privacy requests (`shared.privacy`): what it holds about a person, and erasure.

The person's posts are the mentions whose author is one of the request's identities: a handle on a
platform (or on any platform when the request names none), compared in normalised form, or the
platform's user id (a phone number is a WhatsApp user id). Replies addressed to them are the replies
answering one of those posts or sent privately to one of those ids.

Erasure keeps each post as an anonymous count and deletes the rest:
- a mention keeps its id, platform, post time, kind, channel and analysis labels, so the counts already
  made of it (query buckets and matches, spike baselines, metrics' counters) stay true; its text, URL,
  author, reply target, repost fingerprint and sketch go, and its platform id becomes a digest
  (`suppression.hidden_external_id`), so nothing left points at the post or its author. It is closed as
  redacted (`redaction_reason` erased): no re-score, label or query edit reads it again, and nothing is
  announced about it;
- its near-duplicate keys and agents' labels of it, and the replies addressed to the person, are deleted;
- the person's identifiers, hashed, go on the suppression list (`mentions.suppression`), so a later post
  of theirs is counted anonymously and never announced (which would recreate their profile downstream).

References (for the outbox deletion and the stream scrub): the mentions' ids and the replies' message ids.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.listening.mentions import suppression
from services.listening.models import Mention, MentionLabel, MentionQueryMatch, MentionSketchKey, Reply
from shared.db import lock_tenant
from shared.events.contracts import PrivacySubject
from shared.privacy import ErasureResult
from shared.suppression import Authors, authors_of
from shared.tenancy import scoped

log = logging.getLogger("rapport.listening.privacy")


async def _mentions(session: AsyncSession, tenant_id: str, authors: Authors) -> list[Mention]:
    """The tenant's posts by the person: candidates by user id or lower-cased handle, then the exact
    rule (`Authors.owns`)."""
    conditions = []
    user_ids = {user_id for _, user_id in authors.user_ids}
    if user_ids:
        conditions.append(col(Mention.author_id).in_(sorted(user_ids)))
    handles = {handle for _, handle in authors.handles}
    if handles:
        variants = sorted(handles | {f"@{h}" for h in handles})
        conditions.append(func.lower(func.trim(col(Mention.author_handle))).in_(variants))
    if not conditions:
        return []
    stmt = (
        scoped(Mention, tenant_id).where(or_(*conditions)).order_by(col(Mention.created_at), col(Mention.id))
    )
    rows = (await session.execute(stmt)).scalars()
    return [m for m in rows if authors.owns(m.platform, m.author_handle, m.author_id)]


async def _replies(
    session: AsyncSession, tenant_id: str, authors: Authors, post_ids: Iterable[str]
) -> list[Reply]:
    """Replies addressed to the person: answering one of their posts, or sent privately to them."""
    conditions = []
    answered = sorted(set(post_ids))
    if answered:
        conditions.append(col(Reply.in_reply_to).in_(answered))
    recipients = {value for _, value in authors.user_ids} | {value for _, value in authors.handles}
    if recipients:
        variants = sorted(recipients | {f"@{r}" for r in recipients})
        conditions.append(col(Reply.recipient).in_(variants))
    if not conditions:
        return []
    stmt = scoped(Reply, tenant_id).where(or_(*conditions)).order_by(col(Reply.created_at), col(Reply.id))
    found = list((await session.execute(stmt)).scalars())
    # A conversation is with one person: its other reply requests are addressed to them too (a request
    # refused before its target was known holds nothing else that names them).
    conversations = sorted({r.conversation_id for r in found})
    if conversations:
        known = {r.id for r in found}
        more = scoped(Reply, tenant_id).where(col(Reply.conversation_id).in_(conversations))
        found += [r for r in (await session.execute(more)).scalars() if r.id not in known]
    return found


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _mention_record(m: Mention, matched: list[str]) -> dict[str, Any]:
    return {
        "id": m.id,
        "platform": m.platform,
        "external_id": m.external_id,
        "kind": m.kind,
        "text": m.text,
        "url": m.url,
        "created_at": _iso(m.created_at),
        "received_at": _iso(m.received_at),
        "author": {
            "handle": m.author_handle,
            "display_name": m.author_display_name,
            "followers": m.author_followers,
            "verified": m.author_verified,
            "platform_user_id": m.author_id,
            "influence": m.influence,
        },
        "in_reply_to": m.in_reply_to,
        "rating": m.rating,
        "analysis": {
            "language": m.language,
            "sentiment": m.sentiment_label,
            "sentiment_score": m.sentiment_score,
            "intent": m.intent,
            "tier": m.analysis_tier,
        },
        "matched_query_ids": matched,
        "redacted_at": _iso(m.redacted_at),
        "redaction_reason": m.redaction_reason,
        "edited_at": _iso(m.edited_at),
    }


def _reply_record(r: Reply) -> dict[str, Any]:
    return {
        "id": r.id,
        "message_id": r.message_id,
        "conversation_id": r.conversation_id,
        "platform": r.platform,
        "kind": r.kind,
        "text": r.text,
        "in_reply_to": r.in_reply_to,
        "recipient": r.recipient,
        "status": r.status,
        "created_at": _iso(r.created_at),
        "sent_at": _iso(r.sent_at),
    }


async def export_person(
    session: AsyncSession, tenant_id: str, subject: PrivacySubject
) -> dict[str, list[dict[str, Any]]]:
    """Everything listening holds about the person: their posts (with analysis and query matches) and the
    replies addressed to them."""
    authors = authors_of(subject)
    mentions = await _mentions(session, tenant_id, authors)
    matched: dict[str, list[str]] = {m.id: [] for m in mentions}
    if mentions:
        rows = await session.execute(
            scoped(MentionQueryMatch, tenant_id).where(col(MentionQueryMatch.mention_id).in_(list(matched)))
        )
        for match in rows.scalars():
            matched[match.mention_id].append(match.query_id)
    replies = await _replies(session, tenant_id, authors, (m.external_id for m in mentions))
    return {
        "mentions": [_mention_record(m, sorted(matched[m.id])) for m in mentions],
        "replies": [_reply_record(r) for r in replies],
    }


async def erase_person(session: AsyncSession, tenant_id: str, subject: PrivacySubject) -> ErasureResult:
    """Anonymise the person's posts, delete what else names them, suppress their identifiers."""
    # Taken by the analysis worker too: a post stored meanwhile is either among those read here or
    # announced only after this commit, when the worker finds its author listed (`mentions.analysing`).
    await lock_tenant(session, suppression.SUPPRESSION_LOCK, tenant_id)
    authors = authors_of(subject)
    mentions = await _mentions(session, tenant_id, authors)
    ids = [m.id for m in mentions]
    replies = await _replies(session, tenant_id, authors, (m.external_id for m in mentions))
    # Their own handles and user ids as their posts show them go on the list too.
    digests = authors.digests(tenant_id)
    for m in mentions:
        digests.update(suppression.author_digests(tenant_id, m.platform, m.author_handle, m.author_id))
    for m in mentions:
        suppression.anonymise_mention(m, suppression.ERASED)
    await session.flush()
    labels = keys = 0
    if ids:
        labels = await _delete(session, MentionLabel, tenant_id, col(MentionLabel.mention_id).in_(ids))
        keys = await _delete(session, MentionSketchKey, tenant_id, col(MentionSketchKey.mention_id).in_(ids))
    reply_ids = [r.id for r in replies]
    if reply_ids:
        await _delete(session, Reply, tenant_id, col(Reply.id).in_(reply_ids))
    suppressed = await suppression.add(session, tenant_id=tenant_id, digests=digests)
    counts = {
        "mentions_anonymised": len(ids),
        "mention_labels": labels,
        "mention_sketch_keys": keys,
        "replies": len(reply_ids),
        "suppressed_identifiers": suppressed,
    }
    log.info("privacy.erased", extra={"tenant_id": tenant_id, "counts": counts})
    return ErasureResult(counts=counts, references=[*ids, *(r.message_id for r in replies)])


async def _delete(session: AsyncSession, model: Any, tenant_id: str, where: Any) -> int:
    result = await session.execute(
        delete(model).where(model.tenant_id == tenant_id, where).execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
