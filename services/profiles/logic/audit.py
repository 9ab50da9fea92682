"""The audit log of access to personal data: stored from `privacy.audit.recorded` (the gateway and the
services send one per allowed or refused access), append-only (nothing updates or deletes a row), kept
apart from the data it describes (ids only: who, which person, which purpose, the decision)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.profiles.consent_models import PrivacyAudit
from services.profiles.consent_schemas import AuditPage, AuditRead
from shared.events.contracts import AuditRecorded
from shared.pagination import page_of
from shared.reads import Reader

_A = PrivacyAudit.__table__  # type: ignore[attr-defined]


def _cut(value: str | None, size: int) -> str | None:
    return None if value is None else value[:size]


async def store_audit(session: AsyncSession, *, tenant_id: str, record: AuditRecorded) -> bool:
    """Keep one audit record (once: the same `audit_id` again is ignored); whether it was new."""
    known = (await session.execute(select(_A.c.id).where(_A.c.id == record.audit_id))).first()
    if known is not None:
        return False
    await session.execute(
        _A.insert().values(
            id=record.audit_id,
            tenant_id=tenant_id,
            actor_id=_cut(record.actor_id, 64),
            actor_kind=record.actor_kind,
            profile_id=_cut(record.profile_id, 64),
            purpose=record.purpose,
            decision=record.decision,
            reason=record.reason[:200],
            method=_cut(record.method, 16),
            path=_cut(record.path, 500),
            recorded_by=record.recorded_by[:32],
            request_id=_cut(record.request_id, 128),
            created_at=record.at,
        )
    )
    return True


async def list_audit(
    reader: Reader,
    *,
    tenant_id: str,
    limit: int,
    cursor: str | None,
    profile_id: str | None = None,
    actor_id: str | None = None,
    purpose: str | None = None,
    decision: str | None = None,
) -> AuditPage:
    """The tenant's audit records, newest first, narrowed by person, actor, purpose and decision."""
    rows, next_cursor = await page_of(
        reader,
        PrivacyAudit,
        tenant_id=tenant_id,
        limit=limit,
        cursor=cursor,
        shape=AuditRead,
        profile_id=profile_id,
        actor_id=actor_id,
        purpose=purpose,
        decision=decision,
    )
    return AuditPage(
        items=[AuditRead.model_validate(r, from_attributes=True) for r in rows], next_cursor=next_cursor
    )
