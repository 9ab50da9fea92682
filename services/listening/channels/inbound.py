"""Webhook deliveries: verify the platform's signature over the raw body, parse, store in one transaction.

A delivery whose signature does not verify stores nothing (401). A verified one is stored whole or not
at all: its mentions go through `ingest_mention` (de-duplicated by platform id, so a replay changes
nothing), its compliance events through `channels.compliance`, and mentions it names by id only
(Instagram @mentions) become `MentionFetch` rows, then one commit. The platform gets its answer at
once; `channels.pullers.ReferenceFetcher` reads those mentions from the platform's API afterwards.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.listening.brand.logic import OWN_ACCOUNTS
from services.listening.channels.compliance import apply_compliance
from services.listening.channels.connectors import (
    InboundMention,
    MentionReference,
    ParseResult,
    PayloadError,
    load_json,
    meta_verification_challenge,
    parse_meta,
    parse_whatsapp,
    parse_x,
    verify_meta_signature,
    verify_x_signature,
    x_crc_response,
    x_crc_token_ok,
)
from services.listening.channels.connectors.signatures import META_SIGNATURE_HEADER, X_SIGNATURE_HEADER
from services.listening.channels.logic import record_stored
from services.listening.channels.schemas import PUSH_PLATFORMS, InboundResult
from services.listening.errors import ChannelNotFound, SignatureInvalid, VerificationFailed
from services.listening.mentions.logic import brand_post_of, ingest_mention
from services.listening.mentions.schemas import MentionCreate
from services.listening.models import Channel, Mention, MentionFetch, new_id
from services.listening.usage.quotas import count_posts
from services.listening.wakeups import Wakeups
from shared.db import utcnow
from shared.errors import BadRequest
from shared.secrets import SecretBox
from shared.tenancy import scoped

log = logging.getLogger("rapport.listening.inbound")


def mention_create(mention: InboundMention) -> MentionCreate:
    """A connector's mention as the ingest API's body (with the author's platform id and rating)."""
    data: dict[str, Any] = mention.as_ingest()
    if mention.author.id:
        data["author"]["id"] = mention.author.id
    if mention.rating is not None:
        data["rating"] = mention.rating
    data["kind"] = mention.kind
    return MentionCreate.model_validate(data)


async def store_result(
    session: AsyncSession,
    *,
    tenant_id: str,
    channel_id: str,
    result: ParseResult,
    out: InboundResult | None = None,
) -> InboundResult:
    """Add a parse result of one channel to the caller's transaction (no commit): new mentions (recorded
    as the channel's), compliance changes (to the channel's own mentions only)."""
    out = out or InboundResult()
    stored = 0
    out.skipped += result.skipped
    out.references += len(result.references)
    for mention in result.mentions:
        try:
            body = mention_create(mention)
        except ValidationError:
            out.skipped += 1
            continue
        if mention.own or await OWN_ACCOUNTS.owns(
            session,
            tenant_id,
            platform=mention.platform,
            user_id=mention.author.id,
            handle=mention.author.handle,
        ):
            # The brand's own posts and message echoes are not mentions of it: they are published as the
            # brand's own posts (engagement adds them to the thread they answer).
            brand_post_of(session, tenant_id=tenant_id, mention_in=body, channel_id=channel_id)
            out.skipped += 1
            continue
        accepted = await ingest_mention(
            session,
            tenant_id=tenant_id,
            mention_in=body,
            commit=False,
            channel_id=channel_id,
            check_own=False,
        )
        if accepted.status in ("accepted", "suppressed"):  # stored (a suppressed one anonymously)
            out.accepted += 1
            stored += 1
        else:
            out.duplicates += 1
    if stored:
        # Platform posts (webhooks, pulled, fetched) count in the tenant's hourly usage, never refused.
        await count_posts(session, {tenant_id: stored})
    for event in result.compliance:
        redacted, edited = await apply_compliance(
            session, tenant_id=tenant_id, channel_id=channel_id, event=event
        )
        out.redacted += redacted
        out.edited += edited
    return out


async def queue_references(
    session: AsyncSession, *, channel: Channel, references: list[MentionReference], secrets: dict[str, Any]
) -> int:
    """Add fetch rows for id-only mentions not stored yet to the caller's transaction: how many are new."""
    if not references:
        return 0
    if channel.platform != "meta" or not secrets.get("access_token"):
        # Nothing to read them with: say so (ids only) instead of queueing work that cannot succeed.
        log.warning(
            "inbound.references_unfetchable", extra={"channel_id": channel.id, "count": len(references)}
        )
        return 0
    queued = 0
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    for reference in references:
        stored = await session.execute(
            scoped(Mention, channel.tenant_id)
            .where(col(Mention.platform) == reference.platform)
            .where(col(Mention.external_id) == reference.external_id)
            .limit(1)
        )
        if stored.scalars().first() is not None:
            continue  # a replayed delivery of a mention fetched already
        stmt = (
            insert(MentionFetch)
            .values(
                id=new_id(),
                tenant_id=channel.tenant_id,
                channel_id=channel.id,
                external_id=reference.external_id,
                reference=reference.model_dump_json(),
                next_attempt_at=utcnow(),
                created_at=utcnow(),
                attempts=0,
            )
            .on_conflict_do_nothing(index_elements=["channel_id", "external_id"])
        )
        result = await session.execute(stmt)
        queued += int(result.rowcount == 1)  # type: ignore[attr-defined]
    return queued


async def _channel(session: AsyncSession, *, platform: str, channel_id: str) -> Channel:
    if platform not in PUSH_PLATFORMS:
        raise ChannelNotFound("No such inbound channel.")
    stmt = select(Channel).where(col(Channel.id) == channel_id, col(Channel.platform) == platform)
    channel = (await session.execute(stmt)).scalars().first()
    if channel is None:
        raise ChannelNotFound("No such inbound channel.")
    return channel


async def verify_subscription(
    session: AsyncSession, *, platform: str, channel_id: str, params: Mapping[str, str], box: SecretBox
) -> str | dict[str, str]:
    """Meta/WhatsApp: the `hub.challenge` to echo; X: the CRC `response_token` body. A check that passes
    is committed as the channel's `verified_at`."""
    channel = await _channel(session, platform=platform, channel_id=channel_id)
    secrets = box.open(channel.secrets)
    answer: str | dict[str, str] | None
    if platform == "x":
        token = params.get("crc_token")
        if not x_crc_token_ok(token):
            # The answer is an HMAC under the delivery signing key: computed for X's token shape only.
            log.warning("inbound.crc_refused", extra={"channel_id": channel_id})
            raise BadRequest(
                "A crc_token query parameter of 8 to 256 base64 characters ([A-Za-z0-9+/=_-]) is required."
            )
        answer = x_crc_response(token or "", consumer_secret=str(secrets.get("consumer_secret", "")))
    else:
        answer = meta_verification_challenge(params, verify_token=str(secrets.get("verify_token", "")))
        if answer is None:
            log.warning("inbound.verification_refused", extra={"channel_id": channel_id})
    if answer is None:
        raise VerificationFailed("The verification request does not match this channel.")
    channel.verified_at = utcnow()
    await session.commit()
    log.info("inbound.verified", extra={"channel_id": channel.id, "platform": channel.platform})
    return answer


async def deliver(
    session: AsyncSession,
    *,
    platform: str,
    channel_id: str,
    body: bytes,
    headers: Mapping[str, str],
    box: SecretBox,
    wakeups: Wakeups,
) -> InboundResult:
    """Verify, parse and store one webhook delivery; wakes the analysis worker and the fetcher."""
    channel = await _channel(session, platform=platform, channel_id=channel_id)
    secrets = box.open(channel.secrets)
    if platform == "x":
        ok = verify_x_signature(
            body=body,
            header=headers.get(X_SIGNATURE_HEADER),
            consumer_secret=str(secrets.get("consumer_secret", "")),
        )
    else:
        ok = verify_meta_signature(
            body=body,
            header=headers.get(META_SIGNATURE_HEADER),
            app_secret=str(secrets.get("app_secret", "")),
        )
    if not ok:
        log.warning("inbound.signature_invalid", extra={"channel_id": channel_id, "platform": platform})
        raise SignatureInvalid("The delivery's signature does not verify.")
    try:
        payload = load_json(body)
        parse = {"meta": parse_meta, "whatsapp": parse_whatsapp, "x": parse_x}[platform]
        result = parse(payload)
    except PayloadError as exc:
        raise BadRequest(f"The delivery is not a {platform} webhook payload.") from exc
    out = await store_result(session, tenant_id=channel.tenant_id, channel_id=channel.id, result=result)
    out.queued = await queue_references(
        session, channel=channel, references=result.references, secrets=secrets
    )
    record_stored(channel, out.accepted)
    await session.commit()
    if out.accepted:
        wakeups.analysis.set()
    if out.queued:
        wakeups.fetch.set()
    log.info(
        "inbound.delivered",
        extra={
            "channel_id": channel_id,
            "tenant_id": channel.tenant_id,
            "accepted": out.accepted,
            "duplicates": out.duplicates,
            "redacted": out.redacted,
            "edited": out.edited,
            "queued": out.queued,
        },
    )
    return out
