"""A tenant's privacy policy: the lawful basis each purpose rests on, and how long posts and messages stay.

Stored in profiles, projected into Redis (`shared.consent.project_policy`) before a change answers, and
published as `privacy.policy.changed` (listening and engagement run their retention jobs from it).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.profiles.consent_models import PrivacyPolicy
from services.profiles.logic.resolution import SOURCE
from shared import consent
from shared.db import begin_immediate, utcnow
from shared.errors import ServiceUnavailable
from shared.events.contracts import LawfulBasis, PrivacyPolicyChanged
from shared.events.envelope import new_event
from shared.events.outbox import stage
from shared.reads import Reader

_T = PrivacyPolicy.__table__  # type: ignore[attr-defined]
# The tenant's stored policy (`tenant_id`).
POLICY = select(_T).where(_T.c.tenant_id == bindparam("tenant_id"))


def full_bases(stored: dict[str, str] | None) -> dict[str, LawfulBasis]:
    """Every purpose's basis: the tenant's where it set one, else the default."""
    bases: dict[str, LawfulBasis] = dict(consent.DEFAULT_BASES)
    for purpose, basis in (stored or {}).items():
        if purpose in bases and basis in consent.BASES:
            bases[purpose] = cast(LawfulBasis, basis)
    return bases


async def read_policy(reader: Reader, tenant_id: str) -> dict[str, Any]:
    """`{bases, retention_days, updated_at, updated_by}` of the tenant (the defaults until it sets one)."""
    row = await reader.first(POLICY, {"tenant_id": tenant_id})
    if row is None:
        return {"bases": full_bases(None), "retention_days": None, "updated_at": None, "updated_by": None}
    return {
        "bases": full_bases(row.bases),
        "retention_days": row.retention_days,
        "updated_at": row.updated_at,
        "updated_by": row.updated_by,
    }


async def bases_of(session: AsyncSession, tenant_id: str) -> dict[str, LawfulBasis]:
    row = (await session.execute(select(_T.c.bases).where(_T.c.tenant_id == tenant_id))).first()
    return full_bases(row.bases if row is not None else None)


async def write_policy(
    session: AsyncSession,
    redis: Redis,
    *,
    tenant_id: str,
    bases: dict[str, str],
    retention_days: int | None,
    by_user_id: str,
) -> dict[str, Any]:
    """Replace the tenant's policy (purposes left out take the defaults), publish it, project it."""
    now: datetime = utcnow()
    full = full_bases(bases)
    await begin_immediate(session)
    await session.execute(delete(_T).where(_T.c.tenant_id == tenant_id))
    await session.execute(
        _T.insert().values(
            tenant_id=tenant_id,
            bases=full,
            retention_days=retention_days,
            updated_by=by_user_id,
            updated_at=now,
        )
    )
    payload = PrivacyPolicyChanged(
        bases=full, retention_days=retention_days, by_user_id=by_user_id, changed_at=now
    )
    stage(session, new_event(payload, source=SOURCE, tenant_id=tenant_id, subject=tenant_id))
    await session.commit()
    try:
        await consent.project_policy(redis, tenant_id, full)
    except (RedisError, OSError):
        raise ServiceUnavailable(
            "The policy is recorded but not yet in force everywhere; it will be shortly."
        ) from None
    return {"bases": full, "retention_days": retention_days, "updated_at": now, "updated_by": by_user_id}


async def project_tenant_policy(session: AsyncSession, redis: Redis, tenant_id: str) -> None:
    """Project the tenant's stored policy (profiles' consumer of `privacy.policy.changed`)."""
    await consent.project_policy(redis, tenant_id, await bases_of(session, tenant_id))


async def project_all_policies(sessions: async_sessionmaker[AsyncSession], redis: Redis) -> int:
    """Project every stored policy (a tenant without one reads the defaults)."""
    async with sessions() as session:
        rows = (await session.execute(select(_T.c.tenant_id, _T.c.bases))).all()
    for row in rows:
        await consent.project_policy(redis, row.tenant_id, full_bases(row.bases))
    return len(rows)
