"""Identity resolution of incoming mentions: find or create the author's profile, extend its timeline."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from services.profiles.logic.identifiers import normalise_handle
from services.profiles.models import Identifier, Interaction, Profile
from shared.events.contracts import (
    MentionPayload,
    MentionRedacted,
    MentionResolved,
    ProfileCreated,
    ProfileSnapshot,
)
from shared.events.envelope import new_event
from shared.events.outbox import stage
from shared.tenancy import scoped

log = logging.getLogger("rapport.profiles")

SOURCE = "profiles"


EXCERPT_CHARS = 280


async def _find_handle(
    session: AsyncSession, *, tenant_id: str, platform: str, normalised: str
) -> Identifier | None:
    stmt = scoped(Identifier, tenant_id).where(
        Identifier.kind == "handle",
        Identifier.namespace == platform,
        Identifier.value_normalised == normalised,
    )
    return (await session.execute(stmt)).scalars().first()


def snapshot(profile: Profile, *, segment_ids: list[str] | None = None) -> ProfileSnapshot:
    """The profile as events carry it."""
    return ProfileSnapshot(
        profile_id=profile.id,
        display_name=profile.display_name,
        lifecycle_stage=profile.lifecycle_stage,
        at_risk=profile.at_risk,
        influence=profile.influence,
        followers=profile.followers,
        sentiment_trend=profile.sentiment_trend,
        mention_count=profile.mention_count,
        languages=list(profile.languages),
        lifetime_value=dict(profile.lifetime_value),
        tags=list(profile.tags),
        segment_ids=segment_ids or [],
    )


async def _load_profile_for_update(session: AsyncSession, *, tenant_id: str, profile_id: str) -> Profile:
    # Row lock (PostgreSQL): replicas updating one profile's counters must not lose increments.
    stmt = scoped(Profile, tenant_id).where(Profile.id == profile_id).with_for_update()
    return (await session.execute(stmt)).scalars().one()


def _apply(profile: Profile, mention: MentionPayload) -> None:
    """Fold one mention into the profile's counters; the latest post decides the "last" fields."""
    score = mention.analysis.sentiment.score
    first = profile.mention_count == 0
    profile.mention_count += 1
    profile.sentiment_sum += score
    profile.sentiment_trend = score if first else profile.sentiment_trend * 0.7 + score * 0.3
    profile.first_seen_at = min(profile.first_seen_at, mention.created_at)
    if profile.last_sentiment is None or mention.created_at >= profile.last_seen_at:
        profile.last_seen_at = mention.created_at
        profile.last_sentiment = mention.analysis.sentiment.label
        if mention.author.followers is not None:
            profile.followers = mention.author.followers
        if mention.author.influence is not None:
            profile.influence = mention.author.influence
        if mention.author.display_name:
            profile.display_name = mention.author.display_name


async def resolve_mention(session: AsyncSession, *, tenant_id: str, mention: MentionPayload) -> str | None:
    """Attach a mention to its author's profile (created if new) and stage the onward events.

    Runs inside the caller's transaction (the consumer's inbox transaction) and does not commit.
    Idempotent by the mention id: a mention already on a timeline changes nothing; returns the profile id,
    or None when the mention was already resolved.
    """
    already = scoped(Interaction, tenant_id).where(
        Interaction.kind == "mention", Interaction.ref_id == mention.mention_id
    )
    if (await session.execute(already)).scalars().first() is not None:
        log.info("mention.already_resolved", extra={"mention_id": mention.mention_id, "tenant_id": tenant_id})
        return None
    normalised = normalise_handle(mention.author.handle)
    handle = await _find_handle(
        session, tenant_id=tenant_id, platform=mention.platform, normalised=normalised
    )
    created = handle is None
    if handle is None:
        profile = Profile(
            tenant_id=tenant_id, first_seen_at=mention.created_at, last_seen_at=mention.created_at
        )
        _apply(profile, mention)
        session.add(profile)
        # Without ORM relationships a flush does not order inserts by foreign key: the profile goes first.
        await session.flush()
        session.add(
            Identifier(
                tenant_id=tenant_id,
                profile_id=profile.id,
                kind="handle",
                namespace=mention.platform,
                value=mention.author.handle.strip(),
                value_normalised=normalised,
                evidence="platform",
                confidence=1.0,
                source=f"mention:{mention.mention_id}",
            )
        )
    else:
        profile = await _load_profile_for_update(session, tenant_id=tenant_id, profile_id=handle.profile_id)
        _apply(profile, mention)
    session.add(
        Interaction(
            tenant_id=tenant_id,
            profile_id=profile.id,
            origin_profile_id=profile.id,
            kind="mention",
            ref_id=mention.mention_id,
            platform=mention.platform,
            channel_id=getattr(mention, "channel_id", None),
            language=mention.analysis.language,
            excerpt=mention.text[:EXCERPT_CHARS],
            links={"mention": f"/v1/mentions/{mention.mention_id}"},
            intent=mention.analysis.intent,
            sentiment_label=mention.analysis.sentiment.label,
            sentiment_score=mention.analysis.sentiment.score,
            occurred_at=mention.created_at,
        )
    )
    if created:
        stage(
            session,
            new_event(
                ProfileCreated(profile_id=profile.id, platform=mention.platform),
                source=SOURCE,
                tenant_id=tenant_id,
                subject=profile.id,
            ),
        )
    stage(
        session,
        new_event(
            MentionResolved(profile_id=profile.id, mention=mention, profile=snapshot(profile)),
            source=SOURCE,
            tenant_id=tenant_id,
            subject=profile.id,
        ),
    )
    log.info(
        "mention.resolved",
        extra={
            "mention_id": mention.mention_id,
            "profile_id": profile.id,
            "tenant_id": tenant_id,
            "profile_created": created,
        },
    )
    return profile.id


async def redact_interaction(session: AsyncSession, *, tenant_id: str, redacted: MentionRedacted) -> None:
    """The post was removed on its platform: mark its interaction redacted (counters unchanged)."""
    stmt = scoped(Interaction, tenant_id).where(
        Interaction.kind == "mention", Interaction.ref_id == redacted.mention_id
    )
    interaction = (await session.execute(stmt)).scalars().first()
    if interaction is None:
        # Not resolved (yet): nothing here to redact.
        log.info("interaction.redact_unknown", extra={"mention_id": redacted.mention_id})
        return
    interaction.redacted = True
    interaction.excerpt = None
    session.add(interaction)
    log.info(
        "interaction.redacted", extra={"mention_id": redacted.mention_id, "interaction_id": interaction.id}
    )
