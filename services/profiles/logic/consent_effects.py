"""What consent changes in profiles' own work: no profiling of a person who withdrew from or objected to it.

The decision is `shared.consent`'s, read from the Redis projection. Background work asks it through a
`Refusing` function (the ids among some profiles that may not be processed for a purpose), so the logic
modules stay free of Redis:
- resolution still attaches a mention to its author's profile and timeline (the record of what the
  person posted), but draws no inference from it for such a person (sentiment trend, intents, languages,
  influence, lifecycle stage) and suggests no match for them;
- segment membership (segments serve profiling) leaves such a person out: at resolution, when a segment
  is created, and as soon as their consent changes (`privacy.consent.changed`);
- their match keys and open match suggestions are removed when they object or withdraw, and built again
  when they grant.

While the projection is not ready the check raises `ConsentNotReady`: the event is retried later (the
bus's back-off) rather than processed on a guess.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Literal

from redis.asyncio import Redis
from sqlalchemy import delete, or_
from sqlalchemy.ext.asyncio import AsyncSession

from services.profiles.models import MatchKey, MatchSuggestion
from shared import consent
from shared.events.envelope import new_event
from shared.events.outbox import stage_many

# The ids among these profiles that may not be processed (for the purpose the function was made for).
Refusing = Callable[[Sequence[str]], Awaitable[set[str]]]
PROFILING = "profiling"
# Decisions (and audit records) per Redis round trip and multi-row INSERT.
AUDIT_CHUNK = 500


class ConsentNotReady(Exception):
    """The consent projection is not ready: the work is retried later."""


async def refused(redis: Redis, tenant_id: str, profile_ids: Sequence[str], purpose: str) -> set[str]:
    """The profiles among these without a lawful basis for `purpose` (one Redis round trip)."""
    if not profile_ids:
        return set()
    decisions = await consent.check_many(redis, tenant_id, list(profile_ids), purpose)
    if decisions is None:
        raise ConsentNotReady(purpose)
    return {pid for pid, decision in decisions.items() if not decision.allowed}


def refusing(redis: Redis, tenant_id: str, purpose: str = PROFILING) -> Refusing:
    """A `Refusing` of one tenant and purpose, on `redis`."""

    async def ask(profile_ids: Sequence[str]) -> set[str]:
        return await refused(redis, tenant_id, profile_ids, purpose)

    return ask


async def apply_consent_change(
    session: AsyncSession, redis: Redis, *, tenant_id: str, profile_id: str
) -> None:
    """A person's consent changed: their segments and match suggestions follow (the caller's transaction)."""
    from services.profiles.logic.segments import refresh_memberships
    from services.profiles.logic.suggestions import suggest_for

    objecting = await refused(redis, tenant_id, [profile_id], PROFILING)
    await refresh_memberships(session, tenant_id, [profile_id], unprofiled=objecting)
    if objecting:
        mk, ms = MatchKey.__table__, MatchSuggestion.__table__  # type: ignore[attr-defined]
        await session.execute(delete(mk).where(mk.c.tenant_id == tenant_id, mk.c.profile_id == profile_id))
        await session.execute(
            delete(ms).where(
                ms.c.tenant_id == tenant_id,
                ms.c.status == "open",
                or_(ms.c.profile_id == profile_id, ms.c.candidate_id == profile_id),
            )
        )
    else:
        await suggest_for(session, tenant_id=tenant_id, profile_ids=[profile_id])


class Withhold:
    """The members of a list or export for a purpose (a segment's for marketing) that are left out: each
    decision, allowed or refused, is written to the audit log (staged through the outbox and committed
    with each call), and `withheld` counts those refused so far. The projection not ready: 503."""

    def __init__(
        self,
        redis: Redis,
        session: AsyncSession,
        *,
        tenant_id: str,
        purpose: str,
        actor_id: str,
        actor_kind: Literal["user", "api_key"],
        path: str,
        request_id: str | None,
    ) -> None:
        self.redis = redis
        self.session = session
        self.tenant_id = tenant_id
        self.purpose = purpose
        self.actor_id = actor_id
        self.actor_kind: Literal["user", "api_key"] = actor_kind
        self.path = path
        self.request_id = request_id
        self.withheld = 0

    async def __call__(self, profile_ids: Sequence[str]) -> set[str]:
        """The ids among these to leave out."""
        left_out: set[str] = set()
        for start in range(0, len(profile_ids), AUDIT_CHUNK):
            chunk = list(profile_ids[start : start + AUDIT_CHUNK])
            decisions = await consent.check_many(self.redis, self.tenant_id, chunk, self.purpose)
            if decisions is None:
                raise consent.unknown()
            events = [
                new_event(
                    consent.audit_record(
                        decision,
                        profile_id=pid,
                        recorded_by="profiles",
                        actor_id=self.actor_id,
                        actor_kind=self.actor_kind,
                        method="GET",
                        path=self.path,
                        request_id=self.request_id,
                    ),
                    source="profiles",
                    tenant_id=self.tenant_id,
                    subject=pid,
                )
                for pid, decision in decisions.items()
            ]
            await stage_many(self.session, events)
            left_out.update(pid for pid, decision in decisions.items() if not decision.allowed)
        await self.session.commit()
        self.withheld += len(left_out)
        return left_out
