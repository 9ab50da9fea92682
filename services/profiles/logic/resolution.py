"""Identity resolution of incoming mentions: find or create the author's profile, extend its timeline."""

from __future__ import annotations

import logging
import unicodedata

from sqlalchemy.ext.asyncio import AsyncSession

from services.profiles.models import Handle, Interaction, Profile
from shared.events.contracts import MentionPayload, MentionRedacted, MentionResolved, ProfileCreated
from shared.events.envelope import new_event
from shared.events.outbox import stage
from shared.tenancy import scoped

log = logging.getLogger("rapport.profiles")

SOURCE = "profiles"


def normalise_handle(handle: str) -> str:
    """The form handles are matched by: Unicode-normalised, trimmed, no leading `@`, case-folded."""
    return unicodedata.normalize("NFKC", handle).strip().lstrip("@").strip().casefold()


async def _find_handle(
    session: AsyncSession, *, tenant_id: str, platform: str, normalised: str
) -> Handle | None:
    stmt = scoped(Handle, tenant_id).where(
        Handle.platform == platform, Handle.handle_normalised == normalised
    )
    return (await session.execute(stmt)).scalars().first()


async def _load_profile_for_update(session: AsyncSession, *, tenant_id: str, profile_id: str) -> Profile:
    # Row lock (PostgreSQL): replicas updating one profile's counters must not lose increments.
    stmt = scoped(Profile, tenant_id).where(Profile.id == profile_id).with_for_update()
    return (await session.execute(stmt)).scalars().one()


def _apply(profile: Profile, mention: MentionPayload) -> None:
    """Fold one mention into the profile's counters; the latest post decides the "last" fields."""
    profile.mention_count += 1
    profile.sentiment_sum += mention.analysis.sentiment.score
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
    already = scoped(Interaction, tenant_id).where(Interaction.mention_id == mention.mention_id)
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
            Handle(
                tenant_id=tenant_id,
                profile_id=profile.id,
                platform=mention.platform,
                handle_normalised=normalised,
                handle=mention.author.handle.strip(),
            )
        )
    else:
        profile = await _load_profile_for_update(session, tenant_id=tenant_id, profile_id=handle.profile_id)
        _apply(profile, mention)
    session.add(
        Interaction(
            tenant_id=tenant_id,
            profile_id=profile.id,
            mention_id=mention.mention_id,
            platform=mention.platform,
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
            MentionResolved(profile_id=profile.id, mention=mention),
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
    stmt = scoped(Interaction, tenant_id).where(Interaction.mention_id == redacted.mention_id)
    interaction = (await session.execute(stmt)).scalars().first()
    if interaction is None:
        # Not resolved (yet): profiles keeps no text of it, so nothing here to redact.
        log.info("interaction.redact_unknown", extra={"mention_id": redacted.mention_id})
        return
    interaction.redacted = True
    session.add(interaction)
    log.info(
        "interaction.redacted", extra={"mention_id": redacted.mention_id, "interaction_id": interaction.id}
    )
